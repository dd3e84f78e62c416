import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runTool } from "../../src/tools/run-tool.ts";
import { findYtDlp } from "../../src/tools/yt-dlp.ts";
import { buildIfStale, endTest, startBot, writeConfig } from "../support/bot-process.ts";
import { Harness } from "../support/harness.ts";
import { alive, processesNaming, which } from "../support/processes.ts";

/**
 * The tools the bot starts (ffmpeg, ffprobe, yt-dlp) as processes: what they inherit, how much
 * of their output the bot keeps, and that none outlives a `kill -9` of the bot past its next start.
 */
const ytDlp = findYtDlp(undefined);

let dir: string;
let h: Harness | undefined;
const children: ChildProcess[] = [];

beforeAll(() => {
  if (!ytDlp) throw new Error("yt-dlp is not installed: apt-get install yt-dlp (.ci/run does)");
  dir = mkdtempSync(path.join(tmpdir(), "dlbot-tools-"));
  execFileSync("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=4:size=320x240:rate=25", "-f", "lavfi", "-i", "sine=duration=4",
    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", "-movflags", "+faststart", path.join(dir, "clip.mp4")], { stdio: "pipe" });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  h = await endTest(children, h);
});

/** A page whose Twitter card names a player page with the clip (yt-dlp's generic extractor follows it). */
function playerPage(harness: Harness): string {
  harness.files.addFile("/media/clip.mp4", readFileSync(path.join(dir, "clip.mp4")), { contentType: "video/mp4" });
  harness.files.addHtml("/embed/player.html", `<html><head><title>Player</title></head><body><video src="/media/clip.mp4"></video></body></html>`);
  return harness.files.addHtml(
    "/watch/show.html",
    `<html><head><title>The Show</title><meta name="twitter:card" content="player"><meta name="twitter:player" content="${harness.files.baseUrl}/embed/player.html"></head><body></body></html>`,
  );
}



describe("tool processes", () => {
  it("a tool gets PATH, HOME and LANG, never the bot's token, config or proxy variables", { timeout: 60_000 }, async () => {
    // The wrappers write the environment they were given, then run the real tool.
    const dumps = mkdtempSync(path.join(dir, "env-"));
    const wrap = (name: string) => {
      const file = path.join(dumps, `${name}-wrapper`);
      writeFileSync(file, `#!/bin/sh\nenv > "${dumps}/${name}.$$.env"\nexec "${which(name)}" "$@"\n`);
      chmodSync(file, 0o755);
      return file;
    };
    const secrets = { BOT_TOKEN: "123456:the-secret-token", CONFIG_JSON: '{"botToken":"123456:the-secret-token"}', no_proxy: "*", NO_PROXY: "*", http_proxy: "http://127.0.0.2:9" };
    const saved = Object.fromEntries(Object.keys(secrets).map((k) => [k, process.env[k]]));
    Object.assign(process.env, secrets);
    try {
      h = await Harness.create({ ytDlpPath: wrap("yt-dlp"), ffmpegPath: wrap("ffmpeg"), ffprobePath: wrap("ffprobe") });
      const page = playerPage(h);
      await h.start();
      const since = h.api.nextSeq;
      h.send(`/download ${page}`);
      const upload = await h.upload(since);
      // Probed and given a thumbnail: ffprobe and ffmpeg ran, after yt-dlp.
      expect(upload.method).toBe("sendVideo");
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    const files = readdirSync(dumps).filter((f) => f.endsWith(".env"));
    for (const tool of ["yt-dlp", "ffmpeg", "ffprobe"]) expect(files.some((f) => f.startsWith(`${tool}.`))).toBe(true);
    for (const file of files) {
      const env = readFileSync(path.join(dumps, file), "utf8");
      const names = env.split("\n").map((line) => line.split("=")[0]);
      expect(names).toContain("PATH");
      expect(env).not.toContain("the-secret-token");
      for (const name of ["BOT_TOKEN", "CONFIG_JSON", "no_proxy", "NO_PROXY", "http_proxy"]) expect(names, `${file} has ${name}`).not.toContain(name);
    }
  });

  it("a tool that writes without end fails with a clear error instead of filling the bot's memory", { timeout: 30_000 }, async () => {
    // `yes` writes lines for ever; `cat /dev/zero` one endless line.
    await expect(runTool("yes", [], { timeoutMs: 20_000, maxOutputBytes: 1024 * 1024 })).rejects.toThrow(/^yes wrote more than 1024 kB to its output$/);
    const lines: string[] = [];
    await expect(runTool("cat", ["/dev/zero"], { timeoutMs: 20_000, maxOutputBytes: 1024 * 1024, onLine: (l) => lines.push(l) })).rejects.toThrow(
      /^cat wrote more than 1024 kB to its output in one line$/,
    );
    expect(lines).toEqual([]);
  });

  it("a tool that shows no progress for stallMs is ended, with its children", { timeout: 30_000 }, async () => {
    const started = Date.now();
    // A shell printing once, then waiting on a child that prints nothing.
    await expect(runTool("sh", ["-c", "echo started; sleep 29.37"], { timeoutMs: 20_000, stallMs: 1000, onLine: () => {} })).rejects.toThrow(/^sh showed no progress for 1 s$/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(processesNaming("sleep 29.37").filter(alive)).toEqual([]);
  });

  it("after a kill -9 of the bot, the next start ends the tools it left running before the worker goes on", { timeout: 120_000 }, async () => {
    // The bot as `npm start` runs it (its JavaScript build), so kill -9 is real.
    buildIfStale();
    // yt-dlp itself may end on its own once the bot's end of its pipes is gone (its next progress
    // line meets EPIPE): its group also holds a child that never writes, which only the reaper ends.
    const wrapper = path.join(dir, "yt-dlp");
    writeFileSync(wrapper, `#!/bin/sh\nsleep 97.31 </dev/null >/dev/null 2>&1 &\nexec "${which("yt-dlp")}" "$@"\n`);
    chmodSync(wrapper, 0o755);
    spawnSync("pkill", ["-f", "sleep 97.31"]);
    h = await Harness.create({ ytDlpPath: wrapper });
    const page = playerPage(h);
    h.files.throttle("/media/clip.mp4", 10_000);
    const since = h.api.nextSeq;
    const bot = await startBot(h, await writeConfig(h), children);
    h.send(`/download ${page}`);
    // yt-dlp is writing the clip into the item's folder.
    await h.files.waitForBytes("/media/clip.mp4", 20_000);
    expect(processesNaming(h.dataDir).length).toBeGreaterThan(0);
    const tools = processesNaming("sleep 97.31");
    expect(tools).toHaveLength(1);
    bot.child.kill("SIGKILL");
    await bot.exited;
    // The tool's group outlived the bot (it runs in a process group of its own).
    expect(tools.filter(alive)).toEqual(tools);
    await h.start();
    expect(tools.filter(alive)).toEqual([]);
    expect(processesNaming(h.dataDir).filter(alive)).toEqual([]);
    // The item goes on under the new start, and is delivered once.
    h.files.throttle("/media/clip.mp4", null);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendVideo");
    expect(existsSync(path.join(h.dataDir, "tools.pids"))).toBe(true);
    expect(h.uploads()).toHaveLength(1);
  });
});

import { type ChildProcess, execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { readProbe } from "../../src/tools/ffprobe.ts";
import { buildIfStale, endTest, startBot, writeConfig } from "../support/bot-process.ts";
import { Harness } from "../support/harness.ts";
import { alive, processesNaming, which } from "../support/processes.ts";

/**
 * `kill -9` of the bot while ffmpeg joins a stream: the next start ends the ffmpeg it left (and
 * what that ffmpeg started) before it touches the item's folder, and the item goes on from the
 * segments on disk, fetching none again. The bot runs as its own process, as `npm start` runs it.
 */
beforeAll(buildIfStale, 120_000);

let dir: string;
let h: Harness | undefined;
const children: ChildProcess[] = [];

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dlbot-streamproc-"));
  execFileSync("ffmpeg", [
    "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=6:size=320x180:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:duration=6",
    "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-shortest",
    "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod", "-hls_segment_filename", "s_%03d.ts", "index.m3u8",
  ], { cwd: dir, stdio: "pipe" });
  // ffmpeg as configured: the stream's join reads at the media's own pace (-re: about 6 s), and
  // starts a child that never writes, which only the reaper can end.
  writeFileSync(
    path.join(dir, "ffmpeg"),
    `#!/bin/sh\ncase "$*" in\n  *concatf:*) sleep 97.33 </dev/null >/dev/null 2>&1 &\n    exec "${which("ffmpeg")}" -re "$@" ;;\nesac\nexec "${which("ffmpeg")}" "$@"\n`,
  );
  chmodSync(path.join(dir, "ffmpeg"), 0o755);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  h = await endTest(children, h);
});


describe("a stream whose join the bot is killed during", () => {
  it("ends the ffmpeg it left at the next start, and resumes from the segments on disk", { timeout: 90_000 }, async () => {
    spawnSync("pkill", ["-f", "sleep 97.33"]);
    h = await Harness.create({ ffmpegPath: path.join(dir, "ffmpeg") });
    for (const name of readdirSync(dir).filter((n) => /\.(ts|m3u8)$/.test(n))) {
      h.files.addFile(`/hls/${name}`, readFileSync(path.join(dir, name)), { contentType: name.endsWith(".m3u8") ? "application/vnd.apple.mpegurl" : "video/mp2t" });
    }
    const config = await writeConfig(h);
    let bot = await startBot(h, config, children);
    const since = h.api.nextSeq;
    h.send(`/download ${h.files.baseUrl}/hls/index.m3u8`);
    // The join runs: ffmpeg reads the segments' list in the item's folder.
    const remux = await vi.waitFor(
      () => {
        const found = [...processesNaming(`concatf:file:${h!.dataDir}`), ...processesNaming("sleep 97.33")];
        if (found.length < 2) throw new Error("ffmpeg is not joining yet");
        return found;
      },
      { timeout: 30_000, interval: 50 },
    );
    bot.child.kill("SIGKILL");
    await bot.exited;
    // ffmpeg's group outlived the bot.
    expect(remux.filter(alive).length).toBeGreaterThan(0);

    bot = await startBot(h, config, children);
    // Ended before the worker went on: none of the old run's processes is left.
    expect(remux.filter(alive)).toEqual([]);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendVideo");
    const video = upload.files.find((f) => f.filename.endsWith(".mp4"))!;
    const info = readProbe(JSON.parse(execFileSync("ffprobe", ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", video.path]).toString()));
    expect(Math.abs(info.duration - 6)).toBeLessThanOrEqual(1);
    // The second run joined what the first one had fetched: every segment went out once.
    const fetched = ["s_000.ts", "s_001.ts", "s_002.ts"].map((n) => h!.files.requests.filter((r) => r.method === "GET" && r.path === `/hls/${n}`).length);
    expect(fetched).toEqual([1, 1, 1]);
    bot.child.kill("SIGTERM");
    expect((await bot.exited).code).toBe(0);
  });
});

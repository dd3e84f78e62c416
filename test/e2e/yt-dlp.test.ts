import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { type Server, type Socket, createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { listItems } from "../../src/db/item-repository.ts";
import { findYtDlp } from "../../src/tools/yt-dlp.ts";
import { processesNaming } from "../support/processes.ts";
import { CHAT, Harness, USER } from "../support/harness.ts";

/**
 * yt-dlp's generic extractor on loopback pages: a page whose Twitter card names a player page,
 * which the bot's own reader gives up on and yt-dlp follows. CI installs Debian's yt-dlp.
 */
/** Debian's ffmpeg, the one CI and the Docker image install. */
const FFMPEG = "ffmpeg";
const ytDlp = findYtDlp(undefined);

let dir: string;
let h: Harness | undefined;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dlbot-ytdlp-"));
  execFileSync(FFMPEG, ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=4:size=320x240:rate=25", "-f", "lavfi", "-i", "sine=duration=4",
    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", "-movflags", "+faststart", path.join(dir, "clip.mp4")], { stdio: "pipe" });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A page whose Twitter card names a player page with the clip. */
function playerPages(harness: Harness, options: { sendLength?: boolean } = {}): { page: string; clip: { sha256: string; size: number } } {
  const clip = harness.files.addFile("/media/clip.mp4", readFileSync(path.join(dir, "clip.mp4")), { contentType: "video/mp4", ...options });
  harness.files.addHtml("/embed/player.html", `<html><head><title>Player</title></head><body><video src="/media/clip.mp4"></video></body></html>`);
  const page = harness.files.addHtml(
    "/watch/show.html",
    `<html><head><title>The Show</title><meta name="twitter:card" content="player"><meta name="twitter:player" content="${harness.files.baseUrl}/embed/player.html"></head><body></body></html>`,
  );
  return { page, clip };
}

describe("yt-dlp", () => {
  beforeAll(() => {
    // These tests never skip: without yt-dlp they fail and say what to install.
    if (!ytDlp) throw new Error("yt-dlp is not installed: apt-get install yt-dlp (.ci/run does)");
  });

  it("delivers a page its own reader gives up on, through yt-dlp, with progress", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    const { page, clip } = playerPages(h);
    h.files.throttle("/media/clip.mp4", 40_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const live = await h.progressMessageId(since);
    await h.waitForText(live, /⬇️ Downloading[\s\S]*\d+(\.\d)? KB \//, since);
    h.files.throttle("/media/clip.mp4", null);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendVideo");
    expect(upload.files.find((f) => f.filename.endsWith(".mp4"))!.sha256).toBe(clip.sha256);
  });

  it("queues a playlist yt-dlp finds as one item per entry, at most crawlMaxItems, with one summary", { timeout: 90_000 }, async () => {
    h = await Harness.create({ crawlMaxItems: 2 });
    const clip = readFileSync(path.join(dir, "clip.mp4"));
    // Three episodes, each a distinct file (a byte appended keeps the MP4 playable).
    const episodes = [1, 2, 3].map((n) => h!.files.addFile(`/media/ep${n}.mp4`, Buffer.concat([clip, Buffer.from([n])]), { contentType: "video/mp4" }));
    h.files.addHtml("/embed/season.html", `<html><head><title>Season</title></head><body>${[1, 2, 3].map((n) => `<video src="/media/ep${n}.mp4"></video>`).join("")}</body></html>`);
    const page = h.files.addHtml(
      "/watch/season.html",
      `<html><head><title>The Season</title><meta name="twitter:card" content="player"><meta name="twitter:player" content="${h.files.baseUrl}/embed/season.html"></head><body></body></html>`,
    );
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const summary = String((await h.reply(since, CHAT, /found/)).params.text);
    expect(summary).toMatch(/3 files found: 2 queued, 1 skipped \(over the limit of 2 per page\)\.$/);
    const first = await h.upload(since);
    const second = await h.upload(first.seq + 1);
    const sent = [first, second];
    expect(sent.map((u) => u.files.find((f) => f.filename.endsWith(".mp4"))!.sha256)).toEqual(episodes.slice(0, 2).map((e) => e.sha256));
    expect(h.files.requests.some((r) => r.path === "/media/ep3.mp4")).toBe(false);
  });

  it("cancels yt-dlp mid-way: the process is gone and its files removed", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    const { page } = playerPages(h);
    h.files.throttle("/media/clip.mp4", 10_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const live = await h.progressMessageId(since);
    await h.waitForText(live, /⬇️ Downloading[\s\S]*\d+(\.\d)? KB \//, since);
    expect(execFileSync("pgrep", ["-f", h.dataDir]).toString().trim()).not.toBe("");
    const press = h.api.pressButton(CHAT, live, "q:c:1", { fromId: USER });
    const answer = await h.api.waitForCall((c) => c.method === "answerCallbackQuery" && c.params.callback_query_id === press.callback_query!.id);
    expect(answer.params.text).toBe("Cancelled");
    expect(() => execFileSync("pgrep", ["-f", h!.dataDir])).toThrow();
    expect(existsSync(path.join(h.dataDir, "downloads", "1"))).toBe(false);
    expect(h.uploads()).toEqual([]);
  });

  it("stops a download yt-dlp cannot size up front at maxFileSizeBytes and says the video is too large", { timeout: 60_000 }, async () => {
    h = await Harness.create({ maxFileSizeBytes: 50_000, retryDelaysMs: [] });
    const { page, clip } = playerPages(h, { sendLength: false });
    expect(clip.size).toBeGreaterThan(100_000);
    h.files.throttle("/media/clip.mp4", 40_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const said = await chatSays(h, since, /^❌[\s\S]*larger than this bot's limit of 48\.8 KB/);
    expect(String(said.params.text)).not.toMatch(/undefined/);
    // Stopped on the way (the folder is measured every second), not after the whole file.
    const served = h.files.requests.filter((r) => r.path === "/media/clip.mp4");
    expect(served.length).toBeGreaterThan(0);
    expect(served.every((r) => r.bytesSent < clip.size)).toBe(true);
    expect(h.uploads()).toEqual([]);
    expect(await failedCodes(h)).toEqual(["TOO_LARGE"]);
  });

  it("stops yt-dlp when the disk fills up mid-download, as a direct download stops", { timeout: 60_000 }, async () => {
    h = await Harness.create({ retryDelaysMs: [] });
    const { page, clip } = playerPages(h);
    h.files.throttle("/media/clip.mp4", 20_000);
    let full = false;
    await h.start({ freeBytes: async () => (full ? 0 : 1e12) });
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    await h.files.waitForBytes("/media/clip.mp4", 20_000);
    full = true;
    await chatSays(h, since, /not enough free disk space/);
    expect(h.files.requests.filter((r) => r.path === "/media/clip.mp4").every((r) => r.bytesSent < clip.size)).toBe(true);
    expect(processesNaming(h.dataDir)).toEqual([]);
    expect(h.uploads()).toEqual([]);
    expect(await failedCodes(h)).toEqual(["DISK_FULL"]);
  });

  it("gives yt-dlp a time limit for reading a page, and the live message says what it waits for", { timeout: 60_000 }, async () => {
    // A player page on a server that accepts and never answers.
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s);
      s.on("error", () => {});
    });
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    try {
      h = await Harness.create({ retryDelaysMs: [] });
      const player = `http://127.0.0.1:${(silent.address() as { port: number }).port}/embed/player.html`;
      const page = h.files.addHtml(
        "/watch/silent.html",
        `<html><head><title>Silent</title><meta name="twitter:card" content="player"><meta name="twitter:player" content="${player}"></head><body></body></html>`,
      );
      await h.start({ ytDlpMetadataTimeoutMs: 5000 });
      const since = h.api.nextSeq;
      h.send(`/download ${page}`);
      await chatSays(h, since, /waiting for yt-dlp to read the page \(up to 5 s\)/);
      const failed = await chatSays(h, since, /^❌/);
      expect(String(failed.params.text)).toMatch(/the page did not answer yt-dlp within 5 s/);
      expect(sockets.size).toBeGreaterThan(0);
      expect(await failedCodes(h)).toEqual(["NETWORK"]);
      expect(h.uploads()).toEqual([]);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it("fails a yt-dlp download that gets no new byte for stallTimeoutMs as stalled", { timeout: 60_000 }, async () => {
    h = await Harness.create({ stallTimeoutMs: 2000, retryDelaysMs: [] });
    const { page } = playerPages(h);
    h.files.fault("/media/clip.mp4", { kind: "stall", afterBytes: 20_000 });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const failed = await chatSays(h, since, /^❌/);
    expect(String(failed.params.text)).toMatch(/the server sent no data for 2 s/);
    expect(h.uploads()).toEqual([]);
    expect(await failedCodes(h)).toEqual(["STALLED"]);
    h.files.releaseStalls();
  });

  it("fails a yt-dlp download that trickles in under minSpeedBytesPerSec", { timeout: 60_000 }, async () => {
    h = await Harness.create({ stallTimeoutMs: 30_000, minSpeedBytesPerSec: 4000, speedWindowMs: 2000, retryDelaysMs: [] });
    const { page } = playerPages(h);
    // A byte now and then: never a stall, far under the floor.
    h.files.throttle("/media/clip.mp4", 300);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const failed = await chatSays(h, since, /^❌/);
    expect(String(failed.params.text)).toMatch(/the server sent less than 3\.9 KB\/s for 2 s/);
    expect(h.uploads()).toEqual([]);
    expect(await failedCodes(h)).toEqual(["TOO_SLOW"]);
  });
});


/** The error codes of the items that failed, as stored (the chat's line is read before this). */
async function failedCodes(harness: Harness): Promise<Array<string | null>> {
  return (await listItems(harness.app!.db)).filter((i) => i.status === "failed").map((i) => i.errorCode);
}

/** The first text the bot sends or edits in the chat that matches, after `since`. */
function chatSays(harness: Harness, since: number, match: RegExp) {
  return harness.api.waitForCall(
    (c) => (c.method === "sendMessage" || c.method === "editMessageText") && c.params.chat_id === CHAT && c.response?.ok === true && match.test(String(c.params.text)),
    { since, timeoutMs: 20_000 },
  );
}

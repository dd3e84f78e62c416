import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { findYtDlp } from "../../src/media/yt-dlp.ts";
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
function playerPages(harness: Harness): { page: string; clip: { sha256: string } } {
  const clip = harness.files.addFile("/media/clip.mp4", readFileSync(path.join(dir, "clip.mp4")), { contentType: "video/mp4" });
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
});

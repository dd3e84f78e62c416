import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readProbe } from "../../src/tools/ffprobe.ts";
import { CHAT, Harness, madeUpNames, messageIdOf } from "../support/harness.ts";

/** HLS and DASH streams made by ffmpeg in the set-up, served on loopback. */
/** Debian's ffmpeg, the one CI and the Docker image install. */
const FFMPEG = "ffmpeg";
const FFPROBE = "ffprobe";
const ffmpeg = (cwd: string, ...args: string[]) => execFileSync(FFMPEG, ["-v", "error", "-y", ...args], { cwd, stdio: "pipe" });
const probeFile = (file: string) =>
  readProbe(JSON.parse(execFileSync(FFPROBE, ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", file]).toString()));

let dir: string;
let h: Harness | undefined;

/** An MP4's top-level boxes: type and size, in order. */
function topBoxes(file: string): Array<[string, number]> {
  const bytes = readFileSync(file);
  const boxes: Array<[string, number]> = [];
  for (let at = 0; at + 8 <= bytes.length; ) {
    const size = bytes.readUInt32BE(at) === 1 ? Number(bytes.readBigUInt64BE(at + 8)) : bytes.readUInt32BE(at);
    boxes.push([bytes.toString("latin1", at + 4, at + 8), size]);
    if (size < 8) break;
    at += size;
  }
  return boxes;
}

const TYPES: Record<string, string> = { ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".mpd": "application/dash+xml", ".mp4": "video/mp4", ".m4s": "video/iso.segment" };
/** Every file of a folder, served under `prefix`. */
function serve(harness: Harness, folder: string, prefix: string): void {
  for (const name of readdirSync(folder)) {
    harness.files.addFile(`${prefix}/${name}`, readFileSync(path.join(folder, name)), { contentType: TYPES[path.extname(name)] ?? "application/octet-stream" });
  }
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dlbot-streams-"));
  const hls = path.join(dir, "hls");
  mkdirSync(hls);
  for (const [variant, size] of [["0", "640x360"], ["1", "320x180"], ["2", "160x90"]] as const) {
    ffmpeg(hls, "-f", "lavfi", "-i", `testsrc=duration=6:size=${size}:rate=25`, "-f", "lavfi", "-i", "sine=frequency=440:duration=6",
      "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-shortest",
      "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod", "-hls_segment_filename", `v${variant}_%03d.ts`, `v${variant}.m3u8`);
  }
  writeFileSync(path.join(hls, "master.m3u8"), [
    "#EXTM3U",
    "#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360",
    "v0.m3u8",
    "#EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=320x180",
    "v1.m3u8",
    "#EXT-X-STREAM-INF:BANDWIDTH=120000,RESOLUTION=160x90",
    "v2.m3u8",
    "",
  ].join("\n"));
  const dash = path.join(dir, "dash");
  mkdirSync(dash);
  ffmpeg(dash, "-f", "lavfi", "-i", "testsrc=duration=6:size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:duration=6",
    "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-shortest", "-f", "dash", "-seg_duration", "2", "manifest.mpd");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe("streams", () => {
  it("delivers an HLS page's best variant as a playable MP4 of the right duration", { timeout: 60_000 }, async () => {
    // Not asked which quality: the best that fits, as a chat that never asks gets it.
    h = await Harness.create({ askBeforeDownload: "never" });
    serve(h, path.join(dir, "hls"), "/hls");
    const page = h.files.addHtml("/watch/hls.html", `<title>Live Show</title><video controls src="/hls/master.m3u8"></video>`);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendVideo");
    const video = upload.files.find((f) => f.filename === "Live Show.mp4")!;
    const info = probeFile(video.path);
    expect(info).toMatchObject({ video: { codec: "h264", width: 640, height: 360 }, audio: { codec: "aac" } });
    expect(Math.abs(info.duration - 6)).toBeLessThanOrEqual(1);
    expect(upload.params).toMatchObject({ width: 640, height: 360, supports_streaming: true });
    // The index was written first, into the room kept for it (a free box after it): no second
    // pass rewrote the file to move it there.
    const boxes = topBoxes(video.path);
    expect(boxes.map(([type]) => type).slice(0, 3)).toEqual(["ftyp", "moov", "free"]);
    expect(boxes[2]![1]).toBeGreaterThan(1024);
    // The bot fetched every segment of the best variant itself, each once, and none of the other.
    expect(h.files.requests.filter((r) => /^\/hls\/v0_\d+\.ts$/.test(r.path)).map((r) => r.path).sort()).toEqual(["/hls/v0_000.ts", "/hls/v0_001.ts", "/hls/v0_002.ts"]);
    expect(h.files.requests.some((r) => /^\/hls\/v[12]_/.test(r.path))).toBe(false);
  });

  it("asks which quality an HLS master offers; the smallest chosen, that height comes", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    serve(h, path.join(dir, "hls"), "/hls");
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${h.files.baseUrl}/hls/master.m3u8`);
    const asked = await h.api.waitForCall((c) => c.method === "sendMessage" && /which quality\?/.test(String(c.params.text)), { since });
    const buttons = (asked.params.reply_markup as { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> }).inline_keyboard.flat();
    expect(buttons.map((b) => b.text)).toEqual(["360p · ~659 KB", "180p · ~220 KB", "90p · ~87.9 KB", "⭐ Best that fits", "🎵 Audio only"]);
    // Nothing of the stream is fetched before the choice: the master playlist and one variant's list only.
    expect(h.files.requests.filter((r) => r.path.endsWith(".ts"))).toEqual([]);
    const pressed = h.api.nextSeq;
    h.api.pressButton(CHAT, messageIdOf(asked), buttons.find((b) => b.text.startsWith("90p"))!.callback_data, { fromId: 501 });
    const upload = await h.upload(pressed);
    expect(upload.method).toBe("sendVideo");
    const info = probeFile(upload.files.find((f) => f.filename.endsWith(".mp4"))!.path);
    expect(info).toMatchObject({ video: { width: 160, height: 90 } });
    expect(Math.abs(info.duration - 6)).toBeLessThanOrEqual(1);
    expect(h.files.requests.some((r) => /^\/hls\/v[01]_/.test(r.path))).toBe(false);
    expect(h.api.chat(CHAT).find((m) => m.message_id === messageIdOf(asked))!.text).toBe("✓ #1 master.m3u8: 90p. Back in line.");
  });

  it("'Audio only' on an HLS master's question delivers an audio file of the stream's length, from its lightest variant", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    serve(h, path.join(dir, "hls"), "/hls");
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${h.files.baseUrl}/hls/master.m3u8`);
    const asked = await h.api.waitForCall((c) => c.method === "sendMessage" && /which quality\?/.test(String(c.params.text)), { since });
    const buttons = (asked.params.reply_markup as { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> }).inline_keyboard.flat();
    h.api.pressButton(CHAT, messageIdOf(asked), buttons.find((b) => b.text === "🎵 Audio only")!.callback_data, { fromId: 501 });
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendAudio");
    const audio = upload.files.find((f) => f.filename.endsWith(".m4a"))!;
    const info = probeFile(audio.path);
    expect(info.video).toBeUndefined();
    expect(info.audio).toMatchObject({ codec: "aac" });
    expect(Math.abs(info.duration - 6)).toBeLessThanOrEqual(1);
    expect(Number(upload.params.duration)).toBeGreaterThanOrEqual(5);
    // The lightest variant carried the sound: no segment of the others was fetched.
    expect(h.files.requests.some((r) => /^\/hls\/v[01]_/.test(r.path))).toBe(false);
  });

  it("a chat whose /settings quality is 'audio' gets an HLS master's sound without a question", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    serve(h, path.join(dir, "hls"), "/hls");
    await h.start();
    let since = h.api.nextSeq;
    h.send("/settings");
    const menu = messageIdOf(await h.reply(since));
    // best → 1080p → 720p → 480p → audio
    for (let i = 0; i < 4; i++) {
      const button = h.api.chat(CHAT).find((m) => m.message_id === menu)!.reply_markup!.inline_keyboard.flat().find((b) => b.text.startsWith("📺 Quality"))!;
      const pressed = h.api.nextSeq;
      h.api.pressButton(CHAT, menu, (button as { callback_data: string }).callback_data, { fromId: 501 });
      await h.api.waitForCall((c) => c.method === "answerCallbackQuery", { since: pressed });
    }
    expect(h.api.chat(CHAT).find((m) => m.message_id === menu)!.reply_markup!.inline_keyboard.flat().map((b) => b.text)).toContain("📺 Quality: audio only");
    since = h.api.nextSeq;
    h.send(`/download ${h.files.baseUrl}/hls/master.m3u8`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendAudio");
    expect(h.api.calls.some((c) => c.seq >= since && /which quality\?/.test(String(c.params.text)))).toBe(false);
    expect(h.files.requests.some((r) => /^\/hls\/v[01]_/.test(r.path))).toBe(false);
  });

  it("delivers the stream of an hls.js page", { timeout: 60_000 }, async () => {
    h = await Harness.create({ askBeforeDownload: "never" });
    serve(h, path.join(dir, "hls"), "/hls");
    const page = h.files.addHtml(
      "/watch/hlsjs.html",
      `<title>Player</title><video id="v"></video><script>var hls = new Hls(); hls.loadSource("/hls/master.m3u8"); hls.attachMedia(document.getElementById("v"));</script>`,
    );
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendVideo");
    const video = upload.files.find((f) => f.filename === "Player.mp4")!;
    expect(Math.abs(probeFile(video.path).duration - 6)).toBeLessThanOrEqual(1);
  });

  it("cancels a stream mid-way: no tool runs and its files are removed", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    serve(h, path.join(dir, "hls"), "/hls");
    // A slow server: the segments trickle in.
    for (const name of readdirSync(path.join(dir, "hls")).filter((n) => n.endsWith(".ts"))) h.files.throttle(`/hls/${name}`, 20_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${h.files.baseUrl}/hls/v0.m3u8`);
    const live = await h.progressMessageId(since);
    await h.waitForText(live, /0 of 3 segments/, since);
    const press = h.api.pressButton(CHAT, live, "q:c:1", { fromId: 501 });
    const answer = await h.api.waitForCall((c) => c.method === "answerCallbackQuery" && c.params.callback_query_id === press.callback_query!.id);
    expect(answer.params.text).toBe("Cancelled");
    // The answer comes once the worker let go: nothing runs on the item's files, and they are gone.
    expect(() => execFileSync("pgrep", ["-f", h!.dataDir])).toThrow();
    expect(existsSync(path.join(h.dataDir, "downloads", "1"))).toBe(false);
    expect(h.uploads()).toEqual([]);
  });

  it("delivers a DASH stream as a playable MP4 of the right duration", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    serve(h, path.join(dir, "dash"), "/dash");
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${h.files.baseUrl}/dash/manifest.mpd`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendVideo");
    const video = upload.files.find((f) => f.filename.endsWith(".mp4"))!;
    const info = probeFile(video.path);
    expect(info).toMatchObject({ video: { codec: "h264", width: 640 }, audio: { codec: "aac" } });
    expect(Math.abs(info.duration - 6)).toBeLessThanOrEqual(1);
  });

  it("refuses a stream whose segments point at a private address, without fetching them", { timeout: 60_000 }, async () => {
    h = await Harness.create({ allowPrivateNetworks: false, retryDelaysMs: [] });
    const port = new URL(h.files.baseUrl).port;
    serve(h, path.join(dir, "hls"), "/hls");
    // A media playlist whose segments live on a name that resolves into a private network.
    const playlist = readFileSync(path.join(dir, "hls", "v0.m3u8"), "utf8").replace(/^(v0_\d+\.ts)$/gm, `http://intranet.test:${port}/hls/$1`);
    h.files.addFile("/evil/list.m3u8", Buffer.from(playlist), { contentType: "application/vnd.apple.mpegurl" });
    const names = madeUpNames();
    const resolved = names.resolved;
    await h.start(names.options);
    const since = h.api.nextSeq;
    h.send(`/download http://files.test:${port}/evil/list.m3u8`);
    const failure = await h.reply(since, CHAT, /failed/);
    expect(String(failure.params.text)).toMatch(/intranet\.test \(10\.0\.0\.7\) is on a private or local network/);
    // The bot asked for the segments through its guard, which refused them.
    expect(resolved).toContain("intranet.test");
    expect(h.files.requests.some((r) => r.path.startsWith("/hls/v0_"))).toBe(false);
    expect(h.uploads()).toEqual([]);
  });
});

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readProbe } from "../../src/tools/ffprobe.ts";
import { findYtDlp } from "../../src/tools/yt-dlp.ts";
import type { RecordedCall } from "../support/bot-api-double.ts";
import { CHAT, Harness, deliveredFiles } from "../support/harness.ts";
import { TorrentSwarm } from "../support/torrent-swarm.ts";

/**
 * `/audio <url>`: only the sound of a video, as an audio file Telegram plays, from a direct link,
 * an HLS or DASH stream and a page yt-dlp reads. Real media made by Debian's ffmpeg in the set-up,
 * served on loopback; what went up is read back with ffprobe from the bytes the Bot API double
 * stored.
 */
const ffmpeg = (cwd: string, ...args: string[]) => execFileSync("ffmpeg", ["-v", "error", "-y", ...args], { cwd, stdio: "pipe" });
const ffprobeJson = (file: string) =>
  JSON.parse(execFileSync("ffprobe", ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", file]).toString()) as {
    format: { duration: string };
    streams: Array<{ codec_type: string; codec_name: string; disposition?: { attached_pic?: number } }>;
  };
const probe = (file: string) => readProbe(ffprobeJson(file));
/** The exact length in seconds, as ffprobe reads it (Telegram's `duration` is whole seconds). */
const seconds = (file: string) => Number(ffprobeJson(file).format.duration);
/** A hash of an audio track's packets as they are stored: equal only when copied bit for bit. */
const audioPackets = (file: string) => execFileSync("ffmpeg", ["-v", "error", "-i", file, "-map", "0:a:0", "-c", "copy", "-f", "md5", "-"]).toString().trim();

let dir: string;
let h: Harness | undefined;
let swarm: TorrentSwarm | undefined;
const ytDlp = findYtDlp(undefined);

const TYPES: Record<string, string> = { ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".mpd": "application/dash+xml", ".m4s": "video/iso.segment" };
/** Every file of a folder, served under `prefix`. */
function serve(harness: Harness, folder: string, prefix: string): void {
  for (const name of readdirSync(folder)) {
    harness.files.addFile(`${prefix}/${name}`, readFileSync(path.join(folder, name)), { contentType: TYPES[path.extname(name)] ?? "application/octet-stream" });
  }
}

// Small and few frames: the set-up runs beside other test files, some of them timing-sensitive.
const picture = (size: string, duration: number) => ["-f", "lavfi", "-i", `testsrc=duration=${duration}:size=${size}:rate=10`];
const tone = (duration: number) => ["-f", "lavfi", "-i", `sine=frequency=440:duration=${duration}`];

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dlbot-audio-e2e-"));
  // A direct link: H.264 and AAC in an MP4, with its title and artist.
  ffmpeg(dir, ...picture("160x90", 3), ...tone(3), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest",
    "-metadata", "title=Night Drive", "-metadata", "artist=The Testers", "-movflags", "+faststart", "talk.mp4");
  // An odd codec for an MP4 or an MP3: Opus in a WebM.
  ffmpeg(dir, ...picture("160x90", 3), ...tone(3), "-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "libopus", "-shortest", "clip.webm");
  // A big video (lossless) around a small audio track.
  ffmpeg(dir, ...picture("160x90", 3), ...tone(3), "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-c:a", "aac", "-b:a", "32k", "-shortest", "lecture.mp4");
  // Long enough to go over a small upload limit.
  ffmpeg(dir, ...picture("160x90", 20), "-f", "lavfi", "-i", "anoisesrc=duration=20:amplitude=0.5", "-c:v", "libx264", "-preset", "ultrafast",
    "-c:a", "aac", "-b:a", "192k", "-shortest", "-movflags", "+faststart", "concert.mp4");
  // HLS: two variants, each with its audio muxed into the MPEG-TS segments.
  const hls = path.join(dir, "hls");
  mkdirSync(hls);
  for (const [variant, size] of [["0", "320x180"], ["1", "160x90"]] as const) {
    ffmpeg(hls, ...picture(size, 6), ...tone(6), "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-c:a", "aac", "-shortest",
      "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod", "-hls_segment_filename", `v${variant}_%03d.ts`, `v${variant}.m3u8`);
  }
  writeFileSync(path.join(hls, "master.m3u8"), ["#EXTM3U", "#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=320x180", "v0.m3u8",
    "#EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=160x90", "v1.m3u8", ""].join("\n"));
  // DASH: the video and the audio are representations of their own (stream0 and stream1).
  const dash = path.join(dir, "dash");
  mkdirSync(dash);
  ffmpeg(dash, ...picture("160x90", 6), ...tone(6), "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-c:a", "aac", "-shortest",
    "-f", "dash", "-seg_duration", "2", "manifest.mpd");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await h?.close();
  await swarm?.stop();
  h = undefined;
  swarm = undefined;
});

/** The one file an upload call delivered, with the call's parameters. */
const onlyFile = (call: RecordedCall) => deliveredFiles(call)[0]!;

describe("/audio", () => {
  it("delivers a direct MP4's AAC track copied into an M4A: same length, tags, a cover, no video", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    const link = h.files.addFile("/media/talk.mp4", readFileSync(path.join(dir, "talk.mp4")), { contentType: "video/mp4" });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/audio ${link.url}`);
    expect(String((await h.reply(since, CHAT, /Queued/)).params.text)).toMatch(/Queued #1 .*talk\.mp4.*, only its audio/);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendAudio");
    const audio = onlyFile(upload);
    expect(audio.filename).toBe("talk.m4a");
    const source = path.join(dir, "talk.mp4");
    expect(Math.abs(seconds(audio.path) - seconds(source))).toBeLessThanOrEqual(0.1);
    const info = probe(audio.path);
    expect(info).toMatchObject({ audio: { codec: "aac" }, cover: true, title: "Night Drive", performer: "The Testers" });
    expect(info.video).toBeUndefined();
    // Copied, not encoded again: the track's packets are the source's, byte for byte.
    expect(audioPackets(audio.path)).toBe(audioPackets(source));
    expect(upload.params).toMatchObject({ duration: 3, title: "Night Drive", performer: "The Testers" });
    // The cover went up as the thumbnail: a JPEG (of at most 320 px; this video is smaller).
    const thumb = upload.files.find((f) => f.field === String(upload.params.thumbnail).slice("attach://".length))!;
    expect(readFileSync(thumb.path).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(probe(thumb.path).video).toMatchObject({ width: 160, height: 90 });
    expect(h.uploads()).toHaveLength(1);
  });

  it("encodes an Opus track of a WebM to MP3, which sendAudio plays", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    const link = h.files.addFile("/media/clip.webm", readFileSync(path.join(dir, "clip.webm")), { contentType: "video/webm" });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/audio ${link.url}`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendAudio");
    const audio = onlyFile(upload);
    expect(audio.filename).toBe("clip.mp3");
    expect(probe(audio.path)).toMatchObject({ audio: { codec: "mp3" }, cover: true });
    expect(probe(audio.path).video).toBeUndefined();
    // An MP3 encoder pads the last frame: a few milliseconds longer at most.
    expect(Math.abs(seconds(audio.path) - seconds(path.join(dir, "clip.webm")))).toBeLessThanOrEqual(0.1);
    expect(upload.params).toMatchObject({ duration: 3 });
  });

  it("splits audio over the upload limit into playable parts that go up as one album", { timeout: 60_000 }, async () => {
    h = await Harness.create({ uploadLimitBytes: 200 * 1024 }, { maxUploadBytes: 200 * 1024 });
    const link = h.files.addFile("/media/concert.mp4", readFileSync(path.join(dir, "concert.mp4")), { contentType: "video/mp4" });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/audio ${link.url}`);
    const album = await h.upload(since);
    expect(album.method).toBe("sendMediaGroup");
    const parts = h.delivered();
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.map((p) => p.method)).toEqual(parts.map(() => "sendAudio"));
    expect(parts.map((p) => p.filename)).toEqual(parts.map((_, i) => `concert.part${i + 1}of${parts.length}.m4a`));
    for (const part of parts) {
      expect(part.size).toBeLessThanOrEqual(200 * 1024);
      expect(probe(part.path)).toMatchObject({ audio: { codec: "aac" } });
    }
    const total = parts.reduce((sum, p) => sum + seconds(p.path), 0);
    expect(Math.abs(total - seconds(path.join(dir, "concert.mp4")))).toBeLessThanOrEqual(0.5);
  });

  it("is not refused for its video's size when splitLargeFiles is off: the audio is what must fit", { timeout: 60_000 }, async () => {
    const video = readFileSync(path.join(dir, "lecture.mp4"));
    const limit = 64 * 1024;
    expect(video.length).toBeGreaterThan(limit);
    h = await Harness.create({ uploadLimitBytes: limit, splitLargeFiles: false }, { maxUploadBytes: limit });
    const link = h.files.addFile("/media/lecture.mp4", video, { contentType: "video/mp4" });
    await h.start();
    let since = h.api.nextSeq;
    h.send(`/download ${link.url}`);
    expect(String((await h.reply(since, CHAT)).params.text)).toMatch(/over the upload limit/);
    since = h.api.nextSeq;
    h.send(`/audio ${link.url}`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendAudio");
    expect(onlyFile(upload).filename).toBe("lecture.m4a");
    expect(onlyFile(upload).size).toBeLessThanOrEqual(limit);
  });

  it("is another item than the link's video: an earlier /download's video is not what it re-sends", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    const link = h.files.addFile("/media/talk.mp4", readFileSync(path.join(dir, "talk.mp4")), { contentType: "video/mp4" });
    await h.start();
    let since = h.api.nextSeq;
    h.send(`/download ${link.url}`);
    expect((await h.upload(since)).method).toBe("sendVideo");
    // Its final line first: an edit of its message after `since` would be taken for the next item's.
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    since = h.api.nextSeq;
    h.send(`/audio ${link.url}`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendAudio");
    expect(onlyFile(upload).filename).toBe("talk.m4a");
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    // Asked again, the audio is what is re-sent, from Telegram's copy.
    since = h.api.nextSeq;
    h.send(`/audio ${link.url}`);
    const again = await h.api.waitForCall((c) => c.method === "sendAudio" && c.response?.ok === true, { since });
    expect(again.params.audio).toBe(String((upload.response as { result: { audio: { file_id: string } } }).result.audio.file_id));
    expect(String((await h.reply(since, CHAT, /delivered here before/)).params.text)).toMatch(/#2/);
  });

  it("sends a torrent's videos as their audio, and its other files as they are", { timeout: 60_000 }, async () => {
    swarm = await TorrentSwarm.start();
    // Every file, without asking which (asking has its own tests).
    h = await Harness.create({ askBeforeDownload: "never" });
    const seeded = await swarm.seed("show", [
      { path: "show/episode.mp4", bytes: readFileSync(path.join(dir, "talk.mp4")) },
      { path: "show/notes.txt", bytes: Buffer.from("cast and crew\n") },
    ]);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/audio ${seeded.magnetURI}`);
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    const files = h.delivered();
    expect(files.map((f) => [f.method, f.filename])).toEqual([
      ["sendAudio", "episode.m4a"],
      ["sendDocument", "notes.txt"],
    ]);
    expect(audioPackets(files[0]!.path)).toBe(audioPackets(path.join(dir, "talk.mp4")));
    expect(files[1]!.sha256).toBe(seeded.files[1]!.sha256);
  });

  it("delivers only the audio of an HLS stream whose segments carry both", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    serve(h, path.join(dir, "hls"), "/hls");
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/audio ${h.files.baseUrl}/hls/master.m3u8`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendAudio");
    const audio = onlyFile(upload);
    expect(audio.filename).toMatch(/\.m4a$/);
    const info = probe(audio.path);
    expect(info).toMatchObject({ audio: { codec: "aac" } });
    expect(info.video).toBeUndefined();
    expect(Math.abs(seconds(audio.path) - 6)).toBeLessThanOrEqual(0.2);
  });

  it("fetches only the audio of a DASH stream that has it on its own", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    serve(h, path.join(dir, "dash"), "/dash");
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/audio ${h.files.baseUrl}/dash/manifest.mpd`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendAudio");
    const info = probe(onlyFile(upload).path);
    expect(info).toMatchObject({ audio: { codec: "aac" }, cover: false });
    expect(info.video).toBeUndefined();
    expect(Math.abs(seconds(onlyFile(upload).path) - 6)).toBeLessThanOrEqual(0.2);
    // No byte of the video was asked for.
    const asked = h.files.requests.map((r) => r.path);
    expect(asked.some((p) => /stream1/.test(p))).toBe(true);
    expect(asked.some((p) => /stream0/.test(p))).toBe(false);
  });
});

/** A page whose Twitter card names a player page: the bot's reader gives up, yt-dlp follows it. */
function cardPage(harness: Harness, name: string, player: string): string {
  harness.files.addHtml(`/embed/${name}.html`, `<html><head><title>${name}</title></head><body>${player}</body></html>`);
  return harness.files.addHtml(
    `/watch/${name}.html`,
    `<html><head><title>${name}</title><meta name="twitter:card" content="player"><meta name="twitter:player" content="${harness.files.baseUrl}/embed/${name}.html"></head><body></body></html>`,
  );
}

describe("/audio through yt-dlp", () => {
  beforeAll(() => {
    // These tests never skip: without yt-dlp they fail and say what to install.
    if (!ytDlp) throw new Error("yt-dlp is not installed: apt-get install yt-dlp (.ci/run does)");
  });

  it("asks yt-dlp for the audio format alone: no video segment is fetched", { timeout: 90_000 }, async () => {
    h = await Harness.create();
    serve(h, path.join(dir, "dash"), "/dash");
    const page = cardPage(h, "Dash Show", `<video src="/dash/manifest.mpd"></video>`);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/audio ${page}`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendAudio");
    const audio = onlyFile(upload);
    expect(audio.filename).toMatch(/\.m4a$/);
    const info = probe(audio.path);
    expect(info).toMatchObject({ audio: { codec: "aac" } });
    expect(info.video).toBeUndefined();
    // yt-dlp wrote the page's title into the file, which the upload carries.
    expect(String(upload.params.title)).toMatch(/Dash Show/);
    expect(Math.abs(seconds(audio.path) - 6)).toBeLessThanOrEqual(0.2);
    const asked = h.files.requests.map((r) => r.path);
    expect(asked.some((p) => /stream1/.test(p))).toBe(true);
    expect(asked.some((p) => /stream0/.test(p))).toBe(false);
  });

  it("takes the audio out of the one file a page offers, as for a direct link", { timeout: 90_000 }, async () => {
    h = await Harness.create();
    h.files.addFile("/media/talk.mp4", readFileSync(path.join(dir, "talk.mp4")), { contentType: "video/mp4" });
    const page = cardPage(h, "Talk Show", `<video src="/media/talk.mp4"></video>`);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/audio ${page}`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendAudio");
    const audio = onlyFile(upload);
    expect(audio.filename).toMatch(/\.m4a$/);
    const info = probe(audio.path);
    expect(info).toMatchObject({ audio: { codec: "aac" }, cover: true });
    expect(info.video).toBeUndefined();
    expect(audioPackets(audio.path)).toBe(audioPackets(path.join(dir, "talk.mp4")));
    expect(Math.abs(seconds(audio.path) - seconds(path.join(dir, "talk.mp4")))).toBeLessThanOrEqual(0.1);
  });
});

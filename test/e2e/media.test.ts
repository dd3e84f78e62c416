import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readProbe } from "../../src/tools/ffprobe.ts";
import { moovFirst } from "../../src/media/prepare-upload.ts";
import { FileServer } from "../support/file-server.ts";
import { Harness } from "../support/harness.ts";
import { TorrentSwarm } from "../support/torrent-swarm.ts";

/** Real media, made by ffmpeg in the set-up (the binaries the npm packages ship). */
/** Debian's ffmpeg, the one CI and the Docker image install. */
const FFMPEG = "ffmpeg";
const FFPROBE = "ffprobe";

let dir: string;
let h: Harness | undefined;

const ffmpeg = (...args: string[]) => execFileSync(FFMPEG, ["-v", "error", "-y", ...args], { stdio: "pipe" });
const probe = (file: string) => readProbe(JSON.parse(execFileSync(FFPROBE, ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", file]).toString()));

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dlbot-media-"));
  ffmpeg("-f", "lavfi", "-i", "testsrc=duration=4:size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path.join(dir, "clip.mp4"));
  ffmpeg("-f", "lavfi", "-i", "sine=frequency=330:duration=3", "-f", "lavfi", "-i", "testsrc=size=500x500:rate=1:duration=1",
    "-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame", "-c:v", "mjpeg", "-frames:v", "1", "-disposition:v", "attached_pic",
    "-metadata", "title=Night Song", "-metadata", "artist=The Loopbacks", "-id3v2_version", "3", path.join(dir, "song.mp3"));
  ffmpeg("-i", path.join(dir, "clip.mp4"), "-c", "copy", "-movflags", "+faststart", path.join(dir, "fast.mp4"));
  // The same video in Matroska, which Telegram does not play as it is.
  ffmpeg("-i", path.join(dir, "clip.mp4"), "-c", "copy", path.join(dir, "clip.mkv"));
  // Noise compresses badly: big videos quickly (about 120 MB and 26 MB), a keyframe every second.
  ffmpeg("-f", "lavfi", "-i", "nullsrc=s=320x240:r=25,geq=random(1)*255:128:128", "-t", "42", "-c:v", "libx264", "-preset", "ultrafast",
    "-qp", "0", "-g", "25", "-pix_fmt", "yuv420p", path.join(dir, "noise.mp4"));
  ffmpeg("-f", "lavfi", "-i", "nullsrc=s=640x360:r=25,geq=random(1)*255:128:128", "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
    "-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
    path.join(dir, "twenty.mp4"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe("media that plays in Telegram", () => {
  it("sends a video with its duration, size, streaming flag and a JPEG thumbnail of at most 320 px", async () => {
    h = await Harness.create();
    const clip = h.files.addFile("/media/clip.mp4", readFileSync(path.join(dir, "clip.mp4")), { contentType: "video/mp4" });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${clip.url}`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendVideo");
    expect(upload.params).toMatchObject({ duration: 4, width: 640, height: 360, supports_streaming: true });
    // ffmpeg wrote its index (moov) last; the bot sends it first, so the video streams.
    expect(await moovFirst(path.join(dir, "clip.mp4"))).toBe(false);
    const video = upload.files.find((f) => f.filename === "clip.mp4")!;
    expect(await moovFirst(video.path)).toBe(true);
    expect(probe(video.path)).toMatchObject({ duration: 4, video: { codec: "h264", width: 640, height: 360 } });
    const thumb = upload.files.find((f) => f !== video)!;
    expect(upload.params.thumbnail).toBe(`attach://${thumb.field}`);
    const bytes = readFileSync(thumb.path);
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(bytes.length).toBeLessThan(200 * 1024);
    const picture = probe(thumb.path).video!;
    expect(Math.max(picture.width, picture.height)).toBe(320);
    expect(picture.width / picture.height).toBeCloseTo(640 / 360, 1);
  });

  it("sends a 20 MB video with its duration, size and a thumbnail", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    const twenty = h.files.addFile("/media/twenty.mp4", readFileSync(path.join(dir, "twenty.mp4")), { contentType: "video/mp4" });
    expect(twenty.size).toBeGreaterThan(20 * 1000 * 1000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${twenty.url}`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendVideo");
    expect(upload.params).toMatchObject({ duration: 3, width: 640, height: 360, supports_streaming: true });
    const thumb = upload.files.find((f) => f.field === String(upload.params.thumbnail).slice(9))!;
    expect(readFileSync(thumb.path).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(probe(thumb.path).video).toMatchObject({ width: 320, height: 180 });
  });

  it("sends audio with its duration, performer, title and its cover as the thumbnail", async () => {
    h = await Harness.create();
    const song = h.files.addFile("/media/song.mp3", readFileSync(path.join(dir, "song.mp3")), { contentType: "audio/mpeg" });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${song.url}`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendAudio");
    expect(upload.params).toMatchObject({ duration: 3, performer: "The Loopbacks", title: "Night Song" });
    const thumb = upload.files.find((f) => f.sha256 !== song.sha256)!;
    expect(readFileSync(thumb.path).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(probe(thumb.path).video).toMatchObject({ width: 320, height: 320 });
  });

  it("sends a Matroska video with codecs Telegram plays as an MP4 video", async () => {
    h = await Harness.create();
    const mkv = h.files.addFile("/media/clip.mkv", readFileSync(path.join(dir, "clip.mkv")), { contentType: "video/x-matroska" });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${mkv.url}`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendVideo");
    const video = upload.files.find((f) => f.filename === "clip.mp4")!;
    expect(await moovFirst(video.path)).toBe(true);
    expect(probe(video.path)).toMatchObject({ duration: 4, video: { codec: "h264" }, audio: { codec: "aac" } });
  });

  it("cuts a 120 MB video into playable parts under the 50 MB upload limit, which together last as long", { timeout: 120_000 }, async () => {
    // The upload limits as the cloud Bot API has them: uploadLimitBytes and the double's 413 at 50 MB.
    h = await Harness.create();
    const source = path.join(dir, "noise.mp4");
    const original = probe(source);
    const noise = h.files.addFile("/media/noise.mp4", readFileSync(source), { contentType: "video/mp4" });
    expect(noise.size).toBeGreaterThan(120 * 1000 * 1000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${noise.url}`);
    const delivered = await h.api.waitForCall((c) => c.method === "editMessageText" && /delivered/.test(String(c.params.text)), { since, timeoutMs: 60_000 });
    const parts = h.delivered();
    expect(parts.length).toBeGreaterThanOrEqual(3);
    expect(h.uploads().every((u) => u.method === "sendMediaGroup")).toBe(true);
    expect(String(delivered.params.text)).toMatch(new RegExp(`^✅ <b>noise\\.mp4</b>: delivered \\(${parts.length} files, `));
    let total = 0;
    for (const [i, part] of parts.entries()) {
      expect(part.method).toBe("sendVideo");
      expect(part.caption).toBe(`Part ${i + 1} of ${parts.length}`);
      expect(part.filename).toBe(`noise.part${i + 1}of${parts.length}.mp4`);
      expect(part.size).toBeLessThanOrEqual(50 * 1024 * 1024);
      const info = probe(part.path);
      expect(info.duration).toBeGreaterThan(0);
      expect(part.params.duration).toBe(info.duration);
      expect(part.params.supports_streaming).toBe(true);
      total += Number(JSON.parse(execFileSync(FFPROBE, ["-v", "error", "-print_format", "json", "-show_format", part.path]).toString()).format.duration);
    }
    expect(Math.abs(total - original.duration)).toBeLessThan(2);
    expect(h.api.calls.filter((c) => c.response?.ok === false)).toEqual([]);
  });

  it("without ffmpeg (its configured path leads nowhere), sends a video as a document", async () => {
    h = await Harness.create({ ffmpegPath: path.join(dir, "no-ffmpeg-here"), ffprobePath: FFPROBE });
    const clip = h.files.addFile("/media/plain.mp4", readFileSync(path.join(dir, "clip.mp4")), { contentType: "video/mp4" });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${clip.url}`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendDocument");
    expect(upload.files.map((f) => f.sha256)).toEqual([clip.sha256]);
  });

  it("makes a video's thumbnail without touching a downloaded file of the name it once used", { timeout: 60_000 }, async () => {
    // A torrent holding a video and a file named as the bot's thumbnail of it used to be.
    const swarm = await TorrentSwarm.start();
    try {
      h = await Harness.create({ chooseTimeoutMs: 0 });
      const decoy = FileServer.randomBytes(5000, 31);
      const seeded = await swarm.seed("pack", [
        // Index first: sent as it is, not remuxed into a file of another name.
        { path: "clip.mp4", bytes: readFileSync(path.join(dir, "fast.mp4")) },
        { path: "clip.mp4.thumb.jpg", bytes: decoy },
      ]);
      await h.start();
      const since = h.api.nextSeq;
      h.send(`/torrent ${seeded.magnetURI}`);
      const video = await h.upload(since);
      const other = await h.upload(video.seq + 1);
      expect(video.method).toBe("sendVideo");
      expect(video.files.find((f) => f.filename === "clip.mp4")!.sha256).toBe(seeded.files[0]!.sha256);
      expect(video.params.thumbnail).toMatch(/^attach:\/\//);
      // The torrent's own file goes up as it came.
      expect(other.files.map((f) => [f.filename, f.sha256])).toEqual([["clip.mp4.thumb.jpg", seeded.files[1]!.sha256]]);
      expect(h.delivered()).toHaveLength(2);
    } finally {
      await swarm.stop();
    }
  });
});

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wantsFromColumn, wantsToColumn } from "../../src/db/wants-column.ts";
import { createLogger } from "../../src/logger.ts";
import { extractAudio, roomNeeded } from "../../src/media/audio-only.ts";
import { DataDisk } from "../../src/storage/data-disk.ts";
import { SAFE_FORMATS, audioOnlyArgs, audioPlan } from "../../src/tools/ffmpeg.ts";
import { probeMedia, readProbe } from "../../src/tools/ffprobe.ts";

const WHITELIST = ["-protocol_whitelist", "file", "-format_whitelist", SAFE_FORMATS.join(",")];

describe("audioPlan: what an audio track becomes on its own", () => {
  it("copies AAC and ALAC into an M4A, MP3 into an MP3, and encodes anything else to MP3", () => {
    expect(audioPlan("aac")).toEqual({ container: "m4a", copy: true });
    expect(audioPlan("alac")).toEqual({ container: "m4a", copy: true });
    expect(audioPlan("mp3")).toEqual({ container: "mp3", copy: true });
    for (const codec of ["opus", "vorbis", "flac", "ac3", "pcm_s16le", ""]) expect(audioPlan(codec)).toEqual({ container: "mp3", copy: false });
  });
});

describe("audioOnlyArgs", () => {
  it("copies the first audio track alone, with no picture, into an M4A that streams", () => {
    expect(audioOnlyArgs("/d/1/talk.mp4", "/d/1/.audio-x/talk.m4a", { plan: audioPlan("aac") })).toEqual([
      "-v", "error", "-nostats", "-progress", "pipe:1",
      ...WHITELIST, "-i", "file:/d/1/talk.mp4",
      "-map", "0:a:0", "-vn", "-c:a", "copy",
      "-movflags", "+faststart", "-f", "ipod",
      "-y", "file:/d/1/.audio-x/talk.m4a",
    ]);
  });

  it("takes the cover from a second, whitelisted opening of the file, seeking only there, and sets the tags", () => {
    const args = audioOnlyArgs("/d/1/clip.webm", "/d/1/.audio-x/clip.mp3", {
      plan: audioPlan("opus"),
      cover: { from: "video", atSeconds: 2.5 },
      tags: { title: "A -title", performer: "Band" },
    });
    expect(args).toEqual([
      "-v", "error", "-nostats", "-progress", "pipe:1",
      ...WHITELIST, "-i", "file:/d/1/clip.webm",
      "-ss", "2.5", ...WHITELIST, "-i", "file:/d/1/clip.webm",
      "-map", "0:a:0",
      "-map", "1:v:0", "-c:v", "mjpeg", "-q:v", "3", "-frames:v", "1",
      "-vf", "scale='if(gt(iw,ih),min(640,iw),-2)':'if(gt(iw,ih),-2,min(640,ih))'", "-disposition:v:0", "attached_pic",
      "-c:a", "libmp3lame", "-q:a", "2",
      "-metadata", "title=A -title", "-metadata", "artist=Band",
      "-id3v2_version", "3", "-f", "mp3",
      "-y", "file:/d/1/.audio-x/clip.mp3",
    ]);
  });

  it("keeps an audio file's own cover without a seek", () => {
    const args = audioOnlyArgs("/d/1/song.mkv", "/d/1/.audio-x/song.mp3", { plan: audioPlan("mp3"), cover: { from: "picture" } });
    const inputs = [...WHITELIST, "-i", "file:/d/1/song.mkv"];
    expect(args.slice(5, 5 + 2 * inputs.length + 4)).toEqual([...inputs, ...inputs, "-map", "0:a:0", "-map", "1:v:0"]);
    expect(args).not.toContain("-ss");
    expect(args).toEqual(expect.arrayContaining(["-c:a", "copy"]));
  });
});

describe("readProbe: what the extraction reads of a file", () => {
  it("reads an audio track's bit rate, and Ogg's tags from its stream, but no other container's", () => {
    const ogg = readProbe({
      format: { format_name: "ogg", duration: "3.0" },
      streams: [{ codec_type: "audio", codec_name: "opus", bit_rate: "96000", tags: { TITLE: "Song", ARTIST: "Band" } }],
    });
    expect(ogg).toEqual({ duration: 3, audio: { codec: "opus", bitRate: 96000 }, cover: false, title: "Song", performer: "Band" });
    const mkv = readProbe({
      format: { format_name: "matroska,webm", duration: "3.0", tags: { ARTIST: "Band" } },
      streams: [{ codec_type: "audio", codec_name: "flac", tags: { title: "Stereo" } }],
    });
    expect(mkv).toEqual({ duration: 3, audio: { codec: "flac" }, cover: false, performer: "Band" });
  });
});

describe("roomNeeded: the disk check before the extraction", () => {
  const MB = 1024 * 1024;
  it("counts a copy's bit rate times its length, never more than the file, and an MP3 at 320 kbit/s", () => {
    expect(roomNeeded({ duration: 99, audio: { codec: "aac", bitRate: 128_000 }, cover: false }, 500 * MB)).toBe(16_000 * 100 + MB);
    expect(roomNeeded({ duration: 99, audio: { codec: "aac" }, cover: false }, 500 * MB)).toBe(500 * MB + MB);
    expect(roomNeeded({ duration: 99, audio: { codec: "opus", bitRate: 32_000 }, cover: false }, 1 * MB)).toBe(40_000 * 100 + MB);
    expect(roomNeeded({ duration: 0, audio: { codec: "opus" }, cover: false }, 7 * MB)).toBe(7 * MB + MB);
  });
});

describe("wants as stored", () => {
  it("is one canonical text per wish, and reads back only what this version knows", () => {
    expect(wantsToColumn({})).toBe("{}");
    expect(wantsToColumn({ audioOnly: false })).toBe("{}");
    expect(wantsToColumn({ audioOnly: true })).toBe('{"audioOnly":true}');
    expect(wantsFromColumn('{"audioOnly":true}')).toEqual({ audioOnly: true });
    // The quality cap is a wish this version knows (it came after this test); a newer one's is left out.
    expect(wantsFromColumn('{"audioOnly":true,"maxHeight":720}')).toEqual({ audioOnly: true, maxHeight: 720 });
    expect(wantsFromColumn('{"audioOnly":true,"fromTheFuture":1}')).toEqual({ audioOnly: true });
    expect(wantsFromColumn("{}")).toEqual({});
    expect(wantsFromColumn("not json")).toEqual({});
  });
});

/** Real media made by Debian's ffmpeg, through the real extraction. */
describe("extractAudio on real files", () => {
  let dir: string;
  const tools = { ffmpeg: "ffmpeg", ffprobe: "ffprobe" };
  const logger = createLogger({ level: "silent", secrets: [] });
  const make = (name: string, ...args: string[]) => {
    const file = path.join(dir, name);
    execFileSync("ffmpeg", ["-v", "error", "-y", ...args, file], { stdio: "pipe" });
    return { path: file, name, size: statSync(file).size };
  };
  const video = ["-f", "lavfi", "-i", "testsrc=duration=2:size=160x90:rate=10"];
  const tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=2"];
  const extract = async (file: { path: string; name: string; size: number }) =>
    extractAudio(tools, file, { disk: new DataDisk({ dir, logger }), logger }, new AbortController().signal);
  const probe = (file: string) => probeMedia(tools, file);

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "dlbot-audio-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("copies ALAC out of a MOV into an M4A with the video's frame as its cover, and deletes the video", async () => {
    const source = make("live.mov", ...video, ...tone, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "alac", "-metadata", "title=Live", "-shortest");
    const out = await extract(source);
    expect(out.name).toBe("live.m4a");
    expect(await probe(out.path)).toMatchObject({ duration: 2, audio: { codec: "alac" }, cover: true, title: "Live" });
    expect((await probe(out.path))?.video).toBeUndefined();
    expect(existsSync(source.path)).toBe(false);
  });

  it("copies an MP3 track out of an MKV, and keeps an MP3 file of audio only as it is", async () => {
    const mkv = await extract(make("song.mkv", ...video, ...tone, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libmp3lame", "-metadata", "artist=Band", "-shortest"));
    expect(mkv.name).toBe("song.mp3");
    expect(await probe(mkv.path)).toMatchObject({ audio: { codec: "mp3" }, cover: true, performer: "Band" });
    const mp3 = make("plain.mp3", ...tone, "-c:a", "libmp3lame");
    expect(await extract(mp3)).toEqual(mp3);
  });

  it("encodes an Ogg Opus file to MP3, its stream's tags carried over", async () => {
    const out = await extract(make("voice.ogg", ...tone, "-c:a", "libopus", "-metadata:s:a:0", "title=Voice", "-metadata:s:a:0", "artist=Someone"));
    expect(out.name).toBe("voice.mp3");
    expect(await probe(out.path)).toMatchObject({ audio: { codec: "mp3" }, cover: false, title: "Voice", performer: "Someone" });
  });

  it("fails a video without sound with its reason, and leaves what is not media as it is", async () => {
    const silent = make("silent.mp4", ...video, "-c:v", "libx264", "-preset", "ultrafast");
    await expect(extract(silent)).rejects.toMatchObject({ code: "NO_MEDIA", reason: { kind: "noAudioTrack" } });
    expect(existsSync(silent.path)).toBe(true);
    const text = { path: path.join(dir, "notes.txt"), name: "notes.txt", size: 0 };
    execFileSync("sh", ["-c", `echo hello > '${text.path}'`]);
    expect(await extract(text)).toEqual(text);
    // No scratch folder is left behind by any of them.
    expect(readdirSync(dir).filter((n) => n.startsWith(".audio-")).filter((n) => readdirSync(path.join(dir, n)).length === 0)).toEqual([]);
  });
});

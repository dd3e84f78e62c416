import { accessSync, constants, promises as fs } from "node:fs";
import path from "node:path";
import type { Logger } from "../logger.ts";
import { runTool } from "./run-tool.ts";
import type { ToolProcesses } from "./tool-processes.ts";

/**
 * ffmpeg, wrapped once: where it and ffprobe are, and every argument list the bot runs ffmpeg
 * with (they run through `runTool`; ffprobe's JSON is read in `ffprobe.ts`). Media files stay on
 * disk and are read by the tools; nothing here reads a whole file into memory.
 */

export interface MediaTools {
  ffmpeg: string;
  ffprobe: string;
  /** Where their runs are recorded (see `ToolProcesses`); pass it on to `runTool`. */
  processes?: ToolProcesses | undefined;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The tools to use: the configured paths, else the ones on PATH. Without them, videos go up
 * without duration or thumbnail (one warning at start). No npm-shipped build is used: those are
 * years old, and ffmpeg parses hostile media.
 */
export function findMediaTools(
  config: { ffmpegPath?: string | undefined; ffprobePath?: string | undefined },
  logger: Logger,
  processes?: ToolProcesses,
): MediaTools | undefined {
  const configured = (file: string | undefined) => {
    if (file === undefined) return undefined;
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      return null; // configured, but not there: not looked for elsewhere
    }
  };
  const ffmpeg = configured(config.ffmpegPath) ?? (config.ffmpegPath ? undefined : onPath("ffmpeg"));
  const ffprobe = configured(config.ffprobePath) ?? (config.ffprobePath ? undefined : onPath("ffprobe"));
  if (!ffmpeg || !ffprobe) {
    logger.warn(
      { ffmpegPath: config.ffmpegPath, ffprobePath: config.ffprobePath },
      "ffmpeg or ffprobe not found: videos go up as documents, big files in byte parts",
    );
    return undefined;
  }
  logger.debug({ ffmpeg, ffprobe }, "media tools");
  return { ffmpeg, ffprobe, processes };
}

/**
 * The demuxers ffmpeg and ffprobe may pick for a file the bot downloaded: media containers only.
 * Playlists and descriptions (hls, dash, concat, sdp, rtp, image2 patterns...) are left out: they
 * make ffmpeg open other files or the network, which hostile media would point anywhere.
 */
export const SAFE_FORMATS = ["mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm", "mpegts", "flv", "avi", "mp3", "aac", "flac", "ogg", "wav"];

/**
 * The arguments that open one local input: only the file protocol, and either the given demuxer
 * (`format`, when the bot knows what it wrote) or one of `SAFE_FORMATS`. Every ffmpeg and ffprobe
 * run on a file goes through here (a stream's pieces: `joinTracksArgs`). Pure.
 */
export function inputArgs(file: string, format?: string): string[] {
  return [
    "-protocol_whitelist", "file",
    ...(format ? ["-f", format] : ["-format_whitelist", SAFE_FORMATS.join(",")]),
    "-i", `file:${file}`,
  ];
}

/**
 * How long ffmpeg may go without a progress report on `bytes` of local media: a minute, plus one
 * second per 10 MB for the +faststart pass that rewrites the whole output after the last report
 * (a slow disk, a Raspberry Pi's SD card, does about that). Pure.
 */
export function quietPassMs(bytes: number): number {
  return 60_000 + Math.ceil(bytes / 10_000_000) * 1000;
}

/** ffmpeg reports its progress on stdout about twice a second... */
const PROGRESS = ["-nostats", "-progress", "pipe:1"];

/**
 * ...so a run that reports nothing for longer than a quiet pass could take is stuck (a hostile
 * file, a hung disk) and ends. +faststart rewrites the whole output at the end without a report.
 * The `runTool` options that watch a run over `bytes` of media this way.
 */
export function progressWatch(bytes: number): { stallMs: number; onLine: (line: string) => void } {
  return { stallMs: quietPassMs(bytes), onLine: () => {} };
}

/** A file's first video (and first audio, if any) copied into an MP4 with its index first. Pure. */
export function remuxArgs(input: string, output: string): string[] {
  return ["-v", "error", ...PROGRESS, ...inputArgs(input), "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", "-y", `file:${output}`];
}

/**
 * A file cut into parts of about `seconds` by the segment muxer (stream copy: cuts fall on
 * keyframes), named by `pattern` (one `%04d`, every other "%" doubled). A video's parts are MP4s
 * with their index first; an audio file's keep its container. Pure.
 */
export function cutArgs(input: string, options: { video: boolean; seconds: number; pattern: string }): string[] {
  const { video } = options;
  return [
    "-v", "error", ...PROGRESS, ...inputArgs(input),
    "-map", video ? "0:v:0" : "0:a:0", ...(video ? ["-map", "0:a:0?"] : []),
    "-c", "copy", "-f", "segment", "-segment_time", String(options.seconds), "-reset_timestamps", "1",
    ...(video ? ["-segment_format", "mp4", "-segment_format_options", "movflags=+faststart"] : []),
    `file:${options.pattern}`,
  ];
}

/**
 * A stream's tracks copied into one MP4 of at most `maxBytes`. Each track is a list of its pieces
 * read in turn as one file (ffmpeg's concatf protocol: the list and the pieces local files only)
 * with the demuxer the bot knows it is; a separate audio track is the second input, else the
 * first holds both. The index goes first: into `moovBytes` kept free at the start when given
 * (no second pass; ffmpeg fails if it does not fit), else by +faststart's rewrite of the file. Pure.
 */
export function joinTracksArgs(tracks: ReadonlyArray<{ list: string; format: string }>, output: string, maxBytes: number, moovBytes?: number): string[] {
  const inputs = tracks.flatMap((t) => ["-protocol_whitelist", "concatf,file", "-f", t.format, "-i", `concatf:file:${t.list}`]);
  const maps = tracks.length > 1 ? ["-map", "0:v:0?", "-map", "1:a:0?"] : ["-map", "0:v:0?", "-map", "0:a:0?"];
  const indexFirst = moovBytes ? ["-moov_size", String(moovBytes)] : ["-movflags", "+faststart"];
  return [
    "-v", "error", "-nostats", ...inputs, ...maps,
    "-c", "copy", "-bsf:a", "aac_adtstoasc", ...indexFirst, "-fs", String(maxBytes),
    "-progress", "pipe:1", "-f", "mp4", "-y", `file:${output}`,
  ];
}

/** ffmpeg's words when the index did not fit the room kept for it (see `joinTracksArgs`). */
export const MOOV_TOO_SMALL = "reserved_moov_size is too small";

/**
 * What becomes of an audio track that goes up on its own: a file `sendAudio` plays, which the Bot
 * API says is an MP3 or an M4A. AAC and ALAC are copied into an M4A and MP3 into an MP3, bit for
 * bit; anything else (Opus, Vorbis, FLAC, AC-3, PCM...) is encoded to MP3 (LAME's VBR level 2,
 * about 190 kbit/s), which every player reads, tags and cover included. Pure.
 */
export interface AudioPlan {
  container: "m4a" | "mp3";
  copy: boolean;
}

const M4A_CODECS = new Set(["aac", "alac"]);

export function audioPlan(codec: string): AudioPlan {
  if (M4A_CODECS.has(codec)) return { container: "m4a", copy: true };
  return { container: "mp3", copy: codec === "mp3" };
}

/** Where a cover comes from: a frame a little into a video, or the file's own cover picture. */
export type CoverSource = { from: "video"; atSeconds: number } | { from: "picture" };

/** A scale filter that keeps a picture's shape and its longer side at most `side` px. Pure. */
function fitWithin(side: number): string {
  return `scale='if(gt(iw,ih),min(${side},iw),-2)':'if(gt(iw,ih),-2,min(${side},ih))'`;
}

/**
 * A file's first audio track on its own, copied or encoded as `plan` says, with the title and
 * performer given (a source may keep them where an MP3 or M4A would not carry them over) and,
 * from `cover`, a JPEG of at most 640 px as its cover picture; without one, no picture at all
 * (`-vn`). The cover's frame is read through a second opening of the same file, so the seek to
 * it does not cut the audio. Pure.
 */
export function audioOnlyArgs(
  input: string,
  output: string,
  options: { plan: AudioPlan; cover?: CoverSource | undefined; tags?: { title?: string | undefined; performer?: string | undefined } },
): string[] {
  const { plan, cover, tags } = options;
  const picture = cover
    ? ["-map", "1:v:0", "-c:v", "mjpeg", "-q:v", "3", "-frames:v", "1", "-vf", fitWithin(640), "-disposition:v:0", "attached_pic"]
    : ["-vn"];
  return [
    "-v", "error", ...PROGRESS, ...inputArgs(input),
    ...(cover ? [...(cover.from === "video" ? ["-ss", String(cover.atSeconds)] : []), ...inputArgs(input)] : []),
    "-map", "0:a:0", ...picture,
    "-c:a", ...(plan.copy ? ["copy"] : ["libmp3lame", "-q:a", "2"]),
    ...(tags?.title ? ["-metadata", `title=${tags.title}`] : []),
    ...(tags?.performer ? ["-metadata", `artist=${tags.performer}`] : []),
    // ipod: ffmpeg's muxer for .m4a; ID3v2.3 is the version every player reads.
    ...(plan.container === "m4a" ? ["-movflags", "+faststart", "-f", "ipod"] : ["-id3v2_version", "3", "-f", "mp3"]),
    "-y", `file:${output}`,
  ];
}

/** Telegram's limits for a thumbnail: JPEG, at most 320 px a side, under 200 kB. */
const THUMB_SIDE = 320;
const THUMB_BYTES = 200 * 1024;

/**
 * A JPEG thumbnail of at most 320 px on its longer side and under 200 kB, from a frame a little
 * into a video (or from an audio file's cover), written to `out` (a path the caller created a
 * fresh folder for: ffmpeg overwrites it). False when none could be made.
 */
export async function makeThumbnail(
  tools: MediaTools,
  file: string,
  out: string,
  options: { atSeconds: number; cover?: boolean; signal?: AbortSignal },
): Promise<boolean> {
  const scale = fitWithin(THUMB_SIDE);
  for (const quality of [4, 12, 24]) {
    const seek = options.cover ? [] : ["-ss", String(options.atSeconds)];
    const pick = options.cover ? ["-map", "0:v:0"] : [];
    try {
      await runTool(
        tools.ffmpeg,
        // `-update 1`: the name is a name, not an image2 pattern (a folder may hold a "%d").
        ["-v", "error", ...seek, ...inputArgs(file), ...pick, "-frames:v", "1", "-vf", scale, "-q:v", String(quality), "-f", "image2", "-update", "1", "-y", `file:${out}`],
        { ...(options.signal ? { signal: options.signal } : {}), timeoutMs: 60_000, processes: tools.processes },
      );
      const { size } = await fs.stat(out);
      if (size > 0 && size < THUMB_BYTES) return true;
    } catch (error) {
      if (options.signal?.aborted) throw error;
      return false;
    }
  }
  return false;
}

import { spawn } from "node:child_process";
import { accessSync, constants, promises as fs } from "node:fs";
import path from "node:path";
import type { Logger } from "../logger.ts";

/**
 * ffmpeg and ffprobe, wrapped once: where they are, how they run (a time limit, killed with their
 * children on abort), and what their machine-readable output means. Media files stay on disk and
 * are read by the tools; nothing here reads a whole file into memory.
 */

export interface MediaTools {
  ffmpeg: string;
  ffprobe: string;
}

export interface MediaInfo {
  /** Seconds, rounded; 0 when unknown. */
  duration: number;
  video?: { codec: string; width: number; height: number };
  audio?: { codec: string };
  /** A picture stream in an audio file (its cover). */
  cover: boolean;
  title?: string;
  performer?: string;
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
export function findMediaTools(config: { ffmpegPath?: string | undefined; ffprobePath?: string | undefined }, logger: Logger): MediaTools | undefined {
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
  return { ffmpeg, ffprobe };
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
 * run on a file goes through here. Pure.
 */
export function inputArgs(file: string, format?: string): string[] {
  return [
    "-protocol_whitelist", "file",
    ...(format ? ["-f", format] : ["-format_whitelist", SAFE_FORMATS.join(",")]),
    "-i", `file:${file}`,
  ];
}

export class ToolError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** What a tool's failure comes down to, for the log: the last line it wrote to stderr. */
export function toolErrorDetail(error: unknown): string {
  if (error instanceof ToolError) return error.stderr.trim().split("\n").pop() || error.message;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs a tool to its end: resolves with its stdout, rejects on a non-zero exit, on the time limit
 * or on abort. The tool runs in a process group of its own, so a kill takes its children too.
 */
export function runTool(
  bin: string,
  args: string[],
  options: { signal?: AbortSignal; timeoutMs: number; env?: Record<string, string>; onLine?: (line: string) => void },
): Promise<string> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(options.signal.reason);
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], detached: true, ...(options.env ? { env: { ...process.env, ...options.env } } : {}) });
    let stdout = "";
    let stderr = "";
    // With onLine, stdout is handed over line by line (progress) and not kept.
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (!options.onLine) return;
      const lines = stdout.split("\n");
      stdout = lines.pop() ?? "";
      for (const line of lines) options.onLine(line);
    });
    // Only the tail matters for a failure report.
    child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    let why: unknown;
    const kill = (reason: unknown) => {
      why ??= reason;
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    const timer = setTimeout(() => kill(new ToolError(`${path.basename(bin)} took longer than ${options.timeoutMs} ms`, stderr)), options.timeoutMs);
    const onAbort = () => kill(options.signal?.reason);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.once("error", (error) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (why !== undefined) return reject(why);
      if (options.onLine && stdout) options.onLine(stdout);
      if (code === 0) return resolve(options.onLine ? "" : stdout);
      reject(new ToolError(`${path.basename(bin)} exited with ${code}`, stderr));
    });
  });
}

interface ProbeOutput {
  format?: { duration?: string; tags?: Record<string, string> };
  streams?: Array<{ codec_type?: string; codec_name?: string; width?: number; height?: number; disposition?: { attached_pic?: number } }>;
}

/** What a media file holds, from `ffprobe -print_format json`; undefined when ffprobe cannot read it. */
export async function probeMedia(tools: MediaTools, file: string, signal?: AbortSignal): Promise<MediaInfo | undefined> {
  let out: ProbeOutput;
  try {
    const json = await runTool(tools.ffprobe, ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", file], {
      ...(signal ? { signal } : {}),
      timeoutMs: 30_000,
    });
    out = JSON.parse(json) as ProbeOutput;
  } catch (error) {
    if (signal?.aborted) throw error;
    return undefined;
  }
  return readProbe(out);
}

/** The parts of ffprobe's JSON the bot uses. Pure. */
export function readProbe(out: ProbeOutput): MediaInfo {
  const streams = out.streams ?? [];
  const picture = (s: (typeof streams)[number]) => s.disposition?.attached_pic === 1;
  const video = streams.find((s) => s.codec_type === "video" && !picture(s));
  const audio = streams.find((s) => s.codec_type === "audio");
  const tags = Object.fromEntries(Object.entries(out.format?.tags ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const duration = Math.round(Number(out.format?.duration ?? 0)) || 0;
  return {
    duration,
    ...(video ? { video: { codec: video.codec_name ?? "", width: video.width ?? 0, height: video.height ?? 0 } } : {}),
    ...(audio ? { audio: { codec: audio.codec_name ?? "" } } : {}),
    cover: streams.some(picture),
    ...(tags.title ? { title: tags.title } : {}),
    ...(tags.artist ? { performer: tags.artist } : {}),
  };
}

/** Telegram's limits for a thumbnail: JPEG, at most 320 px a side, under 200 kB. */
const THUMB_SIDE = 320;
const THUMB_BYTES = 200 * 1024;

/**
 * A JPEG thumbnail of at most 320 px on its longer side and under 200 kB, from a frame a little
 * into a video (or from an audio file's cover), written to `out`. False when none could be made.
 */
export async function makeThumbnail(
  tools: MediaTools,
  file: string,
  out: string,
  options: { atSeconds: number; cover?: boolean; signal?: AbortSignal },
): Promise<boolean> {
  const scale = `scale='if(gt(iw,ih),min(${THUMB_SIDE},iw),-2)':'if(gt(iw,ih),-2,min(${THUMB_SIDE},ih))'`;
  for (const quality of [4, 12, 24]) {
    const seek = options.cover ? [] : ["-ss", String(options.atSeconds)];
    const pick = options.cover ? ["-map", "0:v:0"] : [];
    try {
      await runTool(
        tools.ffmpeg,
        ["-v", "error", ...seek, "-i", file, ...pick, "-frames:v", "1", "-vf", scale, "-q:v", String(quality), "-f", "image2", "-y", out],
        { ...(options.signal ? { signal: options.signal } : {}), timeoutMs: 60_000 },
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

import { spawn } from "node:child_process";
import { accessSync, constants, promises as fs } from "node:fs";
import path from "node:path";
import type { Logger } from "../logger.ts";
import type { ToolProcesses } from "./tool-processes.ts";

/**
 * ffmpeg and ffprobe, wrapped once: where they are, how they run (a time limit, killed with their
 * children on abort), and what their machine-readable output means. Media files stay on disk and
 * are read by the tools; nothing here reads a whole file into memory.
 */

export interface MediaTools {
  ffmpeg: string;
  ffprobe: string;
  /** Where their runs are recorded (see `ToolProcesses`); pass it on to `runTool`. */
  processes?: ToolProcesses | undefined;
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
 * run on a file goes through here. Pure.
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
 * The whole environment a tool gets besides what its caller passes: where programs are, a home
 * and the language. Nothing else of the bot's own (its token, its config, proxy variables such as
 * `no_proxy` that would let a tool connect past the guard) reaches a child. Pure.
 */
export function toolEnvironment(extra: Record<string, string> = {}, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ["PATH", "HOME", "LANG"]) {
    const value = from[key];
    if (value !== undefined) env[key] = value;
  }
  return { ...env, ...extra };
}

/** Most a tool may write to its stdout (the JSON of a long playlist is a few MB). */
export const MAX_TOOL_OUTPUT_BYTES = 16 * 1024 * 1024;

export interface RunToolOptions {
  signal?: AbortSignal;
  /** Longest the whole run may take. */
  timeoutMs: number;
  /** The error the time limit fails with (default: a ToolError saying so). */
  timeoutError?: () => Error;
  /** Variables besides PATH, HOME and LANG (see `toolEnvironment`). */
  env?: Record<string, string>;
  /** Hands stdout over line by line (progress) instead of collecting it. */
  onLine?: (line: string) => void;
  /** Most stdout bytes collected (or most bytes in one line with `onLine`); more fails the run. */
  maxOutputBytes?: number;
  /** Fails the run when the tool writes nothing to stdout for this long (tools that print progress). */
  stallMs?: number;
  /** The error a stall fails with (default: a ToolError saying so). */
  stallError?: () => Error;
  /** Where the running tools are recorded, so the next start can end them after a crash. */
  processes?: ToolProcesses | undefined;
}

/**
 * Runs a tool to its end: resolves with its stdout, rejects on a non-zero exit, on the time limit,
 * a stall, too much output or on abort. The tool runs in a process group of its own, so a kill
 * takes its children too, with nothing of the bot's environment but PATH, HOME and LANG.
 */
export function runTool(bin: string, args: string[], options: RunToolOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(options.signal.reason);
    const name = path.basename(bin);
    const maxOutput = options.maxOutputBytes ?? MAX_TOOL_OUTPUT_BYTES;
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], detached: true, env: toolEnvironment(options.env) });
    if (child.pid) options.processes?.add(child.pid, name);
    const chunks: Buffer[] = [];
    let collected = 0;
    let stderr = "";
    let why: unknown;
    const kill = (reason: unknown) => {
      why ??= reason;
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    let stallTimer: NodeJS.Timeout | undefined;
    const watchStall = () => {
      if (!options.stallMs) return;
      clearTimeout(stallTimer);
      const ms = options.stallMs;
      stallTimer = setTimeout(() => kill(options.stallError?.() ?? new ToolError(`${name} showed no progress for ${Math.round(ms / 1000)} s`, stderr)), ms);
    };
    watchStall();
    child.stdout.on("data", (d: Buffer) => {
      watchStall();
      collected += d.length;
      chunks.push(d);
      if (options.onLine && d.includes(10)) {
        // Whole lines go to the caller; only the unfinished last one stays, as bytes (a chunk may
        // end inside a character).
        const all = Buffer.concat(chunks);
        const end = all.lastIndexOf(10);
        chunks.length = 0;
        chunks.push(all.subarray(end + 1));
        collected = all.length - end - 1;
        for (const line of all.subarray(0, end).toString().split("\n")) options.onLine(line);
      }
      if (collected > maxOutput) kill(new ToolError(`${name} wrote more than ${Math.round(maxOutput / 1024)} kB to its output${options.onLine ? " in one line" : ""}`, stderr));
    });
    // Only the tail matters for a failure report.
    child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const timer = setTimeout(() => kill(options.timeoutError?.() ?? new ToolError(`${name} took longer than ${options.timeoutMs} ms`, stderr)), options.timeoutMs);
    const onAbort = () => kill(options.signal?.reason);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const settle = () => {
      clearTimeout(timer);
      clearTimeout(stallTimer);
      options.signal?.removeEventListener("abort", onAbort);
      if (child.pid) options.processes?.remove(child.pid);
    };
    child.once("error", (error) => {
      settle();
      reject(error);
    });
    // What the tool started and left behind (its group) ends with it: nothing it spawned runs on,
    // or holds its output open, once it is done.
    child.once("exit", () => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // the group is empty: nothing was left behind
      }
    });
    child.once("close", (code) => {
      settle();
      if (why !== undefined) return reject(why);
      const stdout = Buffer.concat(chunks).toString();
      if (options.onLine && stdout) options.onLine(stdout);
      if (code === 0) return resolve(options.onLine ? "" : stdout);
      reject(new ToolError(`${name} exited with ${code}`, stderr));
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
    // inputArgs: a playlist or description posing as a media file opens nothing else.
    const json = await runTool(tools.ffprobe, ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", ...inputArgs(file)], {
      ...(signal ? { signal } : {}),
      timeoutMs: 30_000,
      maxOutputBytes: 1024 * 1024,
      processes: tools.processes,
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
 * into a video (or from an audio file's cover), written to `out` (a path the caller created a
 * fresh folder for: ffmpeg overwrites it). False when none could be made.
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

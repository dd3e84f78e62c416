import { promises as fs } from "node:fs";
import path from "node:path";
import { DownloadError, stopReason } from "../errors.ts";
import { type MediaTools, runTool, toolErrorDetail } from "../media/ffmpeg.ts";
import { safeFileName } from "../storage/paths.ts";
import { formatDuration } from "../text/format.ts";
import type { SourceContext, SourceResult } from "./source.ts";

/** Downloads an HLS or DASH stream into one MP4 (what the direct handler hands a manifest to). */
export type StreamDownloader = (ctx: SourceContext, url: string) => Promise<SourceResult>;

export interface StreamOptions {
  tools: MediaTools;
  /** The guarded forward proxy ffmpeg must use (it does its own networking). */
  proxyUrl: () => string;
  /** Longest a whole stream may take. */
  timeoutMs?: number;
}

/** Whether a response is an HLS or DASH manifest. Pure. */
export function isStreamManifest(contentType: string, url: string): boolean {
  if (/^\s*(application\/(vnd\.apple\.mpegurl|x-mpegurl|dash\+xml)|audio\/(x-)?mpegurl)\b/i.test(contentType)) return true;
  try {
    return /\.(m3u8|mpd)$/i.test(new URL(url).pathname);
  } catch {
    return false;
  }
}

interface Probe {
  format?: { duration?: string };
  programs?: Array<{ program_id?: number; tags?: Record<string, string> }>;
}

/**
 * ffmpeg reads the stream (through the guarded proxy) and copies it into an MP4: the best variant
 * whose size fits `maxBytes` (by its bandwidth and the duration), video and audio merged, no
 * re-encoding. Progress is the time done of the whole duration. A stop kills ffmpeg; a retry
 * starts the stream over.
 */
export function createStreamDownloader(options: StreamOptions): StreamDownloader {
  return async (ctx, url) => {
    const { signal } = ctx;
    const env = { http_proxy: options.proxyUrl(), https_proxy: options.proxyUrl() };
    const proxy = ["-http_proxy", options.proxyUrl()];
    ctx.progress({ bytesDone: 0, totalBytes: null, note: "reading the stream" });
    let probe: Probe;
    try {
      const json = await runTool(
        options.tools.ffprobe,
        ["-v", "error", ...proxy, "-print_format", "json", "-show_format", "-show_programs", url],
        { signal, timeoutMs: 120_000, env },
      );
      probe = JSON.parse(json) as Probe;
    } catch (error) {
      if (signal.aborted) throw streamError(error, signal);
      // Without the probe, ffmpeg takes the first variant and the duration stays unknown.
      ctx.logger.warn({ err: error instanceof Error ? error.message : String(error) }, "could not probe the stream; downloading it anyway");
      probe = {};
    }
    const duration = Number(probe.format?.duration ?? 0) || 0;
    const map = pickVariant(probe.programs ?? [], duration, ctx.maxBytes);
    const file = path.join(ctx.dir, `${safeFileName(path.basename(ctx.item.title, path.extname(ctx.item.title)) || "stream")}.mp4`);
    let done = 0;
    let bytes = 0;
    try {
      await runTool(
        options.tools.ffmpeg,
        [
          "-v", "error", "-nostats", ...proxy, "-i", url,
          ...(map === null ? ["-map", "0:v:0?", "-map", "0:a:0?"] : ["-map", `0:p:${map}:v?`, "-map", `0:p:${map}:a?`]),
          "-c", "copy", "-bsf:a", "aac_adtstoasc", "-movflags", "+faststart", "-fs", String(ctx.maxBytes),
          "-progress", "pipe:1", "-f", "mp4", "-y", file,
        ],
        {
          signal,
          timeoutMs: options.timeoutMs ?? 6 * 60 * 60_000,
          env,
          onLine: (line) => {
            const [key, value] = line.split("=");
            if (key === "out_time_us" || key === "out_time_ms") done = Number(value) / 1_000_000 || done;
            if (key === "total_size") bytes = Number(value) || bytes;
            if (key === "progress") {
              const of = duration > 0 ? ` of ${formatDuration(duration * 1000)}` : "";
              ctx.progress({ bytesDone: bytes, totalBytes: null, note: `${formatDuration(done * 1000)}${of} of the stream` });
            }
          },
        },
      );
    } catch (error) {
      await fs.rm(file, { force: true });
      throw streamError(error, signal);
    }
    const { size } = await fs.stat(file);
    if (size >= ctx.maxBytes) {
      await fs.rm(file, { force: true });
      throw new DownloadError("TOO_LARGE", `the stream is over ${ctx.maxBytes} bytes`, {
        userMessage: "even the stream's smallest variant is larger than the bot's size limit (maxFileSizeBytes).",
      });
    }
    await ctx.checkpoint({ sizeBytes: size, title: path.basename(file) });
    return { kind: "files", files: [{ path: file, name: path.basename(file), size }] };
  };
}

/**
 * The HLS variant (an ffmpeg program) to take: the highest bandwidth whose size for the duration
 * fits `maxBytes`, else the lowest. Null when the stream has no variants to choose from. Pure.
 */
export function pickVariant(programs: Probe["programs"] & object, durationSeconds: number, maxBytes: number): number | null {
  const variants = programs
    .map((p) => ({ id: p.program_id ?? 0, bitrate: Number(p.tags?.variant_bitrate ?? 0) }))
    .filter((v) => v.bitrate > 0)
    .sort((a, b) => b.bitrate - a.bitrate);
  if (variants.length === 0) return null;
  const fits = variants.find((v) => durationSeconds <= 0 || (v.bitrate / 8) * durationSeconds <= maxBytes);
  return (fits ?? variants[variants.length - 1]!).id;
}

function streamError(error: unknown, signal: AbortSignal): Error {
  if (signal.aborted) return stopReason(signal);
  return new DownloadError("NETWORK", `stream: ${toolErrorDetail(error)}`, {
    retryable: true,
    cause: error,
    userMessage: "the stream could not be read (its playlist or segments did not load); it will be retried from the start.",
  });
}

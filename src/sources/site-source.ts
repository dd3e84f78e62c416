import { promises as fs } from "node:fs";
import path from "node:path";
import { DownloadError, stopReason } from "../errors.ts";
import { type MinSpeed, SpeedFloor, stalledError, tooSlowError } from "../net/transfer-speed.ts";
import type { MediaTools } from "../tools/ffmpeg.ts";
import { runTool } from "../tools/run-tool.ts";
import type { ToolProcesses } from "../tools/tool-processes.ts";
import { type YtDlpInfo, commonArgs, downloadArgs, liveStatus, metadataArgs, playlistEntries, readDownloadLine, siteQualities, writeToolWrappers, ytDlpFailure } from "../tools/yt-dlp.ts";
import { queueFound } from "./found-items.ts";
import type { Source, SourceContext, SourceResult } from "./source.ts";

/**
 * The site source: a page yt-dlp can read (a site it has an extractor for, or a player the
 * built-in page reader could not read), downloaded by yt-dlp into the item's folder within the
 * bot's limits. The direct source reroutes a link of a known site here; the page source calls
 * the same downloader itself for a page with nothing the built-in reader finds.
 */

export interface SiteSourceOptions {
  bin: string;
  tools?: MediaTools | undefined;
  /** The guarded forward proxy yt-dlp must use (it does its own networking). */
  proxyUrl: () => string;
  cookiesFile?: string | undefined;
  timeoutMs?: number;
  /** A playlist queues at most this many of its entries (`crawlMaxItems`, as a page's files). */
  maxItems: number;
  /**
   * A folder of the bot's own (`<dataDir>/tools`) for the ffmpeg and ffprobe yt-dlp is given:
   * small scripts that run the real ones with local-file and media-container whitelists on every
   * input, whatever yt-dlp asks of them.
   */
  workDir: string;
  /** Longest yt-dlp may take to read a page (each run's, before the first byte): default 30 s. */
  metadataTimeoutMs?: number;
  /** A download that gets no new byte for this long fails as STALLED (`stallTimeoutMs`). */
  stallTimeoutMs?: number;
  /** A download whose average speed over the window stays under this fails as TOO_SLOW. */
  minSpeed?: MinSpeed | undefined;
  processes?: ToolProcesses | undefined;
}

/**
 * Downloads what yt-dlp finds on a page into the item's directory, reporting its progress;
 * null when yt-dlp does not know the page either.
 */
export type SiteDownloader = (ctx: SourceContext, url: string) => Promise<SourceResult | null>;

/**
 * The "site" source: yt-dlp's download of the item's link. When yt-dlp finds nothing there after
 * all, the item goes back to the direct source, which fetches it as it is (and does not send it
 * here again: `declined`).
 */
export function createSiteSource(download: SiteDownloader): Source {
  return {
    kind: "site",
    async download(ctx) {
      return (await download(ctx, ctx.item.url)) ?? { kind: "reroute", sourceKind: "direct", declined: true };
    },
  };
}

/**
 * yt-dlp with the bot's limits around it. It does its own networking, through the guarded proxy
 * only, and with its own downloader for everything (`--downloader native`, live streams refused):
 * no URL is handed to ffmpeg, whose every run (merging, fixing) gets local-file and container
 * whitelists from the wrapper scripts in `workDir`. Its output is measured as it grows, against
 * `maxFileSizeBytes` (`--max-filesize` holds only for a size known up front), the free disk and
 * the stall timer; reading a page has a time limit of its own.
 */
export function createSiteDownloader(options: SiteSourceOptions): SiteDownloader {
  const metadataMs = options.metadataTimeoutMs ?? 30_000;
  let ffmpegLocation: Promise<string> | undefined;
  return async (ctx, url) => {
    const { signal } = ctx;
    const seconds = Math.round(metadataMs / 1000);
    ctx.progress({ bytesDone: 0, totalBytes: null, stage: { kind: "site-reading-page", limitSeconds: seconds } });
    // Without tools, a place that is not there: yt-dlp then uses no ffmpeg at all, not one on PATH.
    ffmpegLocation ??= (options.tools ? writeToolWrappers(options.workDir, options.tools) : Promise.resolve(path.join(options.workDir, "no-ffmpeg"))).catch(
      (error: unknown) => {
        // A passing fault (a full disk) must not stay cached for the life of the process.
        ffmpegLocation = undefined;
        throw error;
      },
    );
    const common = commonArgs({ proxyUrl: options.proxyUrl(), ffmpegLocation: await ffmpegLocation, cookiesFile: options.cookiesFile });
    const pageTimeout = () =>
      new DownloadError("NETWORK", `yt-dlp: the page did not answer within ${seconds} s`, {
        retryable: true,
        reason: { kind: "sitePageTimeout", seconds },
      });
    const failed = (error: unknown): DownloadError | null => {
      if (signal.aborted) throw stopReason(signal);
      if (error instanceof DownloadError) return error;
      return ytDlpFailure(error);
    };
    // The metadata first: a playlist is queued entry by entry.
    let info: YtDlpInfo;
    try {
      info = JSON.parse(
        await runTool(options.bin, metadataArgs(common, url), {
          signal,
          timeoutMs: metadataMs,
          timeoutError: pageTimeout,
          processes: options.processes,
        }),
      ) as YtDlpInfo;
    } catch (error) {
      const reason = failed(error);
      if (reason) throw reason;
      return null;
    }
    if (info._type === "playlist") {
      const entries = playlistEntries(info, url);
      if (entries.length > 1) return queueFound(ctx, entries, options.maxItems);
    }
    const live = liveStatus(info);
    if (live !== undefined) {
      throw new DownloadError("NO_MEDIA", `yt-dlp: a live stream (${live})`, {
        reason: { kind: "siteLiveStream" },
      });
    }
    // Offered in several heights: asked first, when the item may ask.
    const qualities = siteQualities(info, ctx.maxBytes);
    if (ctx.ask?.quality && !ctx.item.wants.audioOnly && qualities.filter((q) => q.fits).length > 1) {
      return { kind: "choose", offer: { kind: "quality", qualities, audio: true } };
    }
    // A chosen quality, else the chat's cap.
    const chosenHeight = (ctx.choice?.kind === "quality" ? Number(ctx.choice.id) || undefined : undefined) ?? ctx.item.wants.maxHeight;
    ctx.progress({ bytesDone: 0, totalBytes: null, stage: { kind: "site-opening-video", limitSeconds: seconds } });
    const watch = watchOutput(ctx, { ...options, metadataMs, pageTimeout });
    let files: string[] = [];
    try {
      // Only the audio asked for: yt-dlp fetches an audio format, not the video around it.
      const audioOnly = ctx.item.wants.audioOnly === true;
      await runTool(options.bin, downloadArgs(common, { url, dir: ctx.dir, maxBytes: ctx.maxBytes, audioOnly, ...(chosenHeight ? { maxHeight: chosenHeight } : {}) }), {
        signal: AbortSignal.any([signal, watch.signal]),
        timeoutMs: options.timeoutMs ?? 6 * 60 * 60_000,
        processes: options.processes,
        onLine: (text) => {
          const line = readDownloadLine(text);
          if (line?.kind === "file") files.push(line.path);
          // Merging or fixing up: the folder holds the parts and what is made of them.
          if (line?.kind === "post-process") watch.postProcessing();
          if (line?.kind !== "progress") return;
          watch.progress(line.bytesDone);
          ctx.progress({ bytesDone: line.bytesDone, totalBytes: line.totalBytes });
        },
      });
    } catch (error) {
      const reason = failed(error);
      if (reason) throw reason;
      return null;
    } finally {
      watch.stop();
    }
    files = files.filter((f) => f.startsWith(ctx.dir + path.sep));
    if (files.length === 0) {
      throw new DownloadError("TOO_LARGE", "yt-dlp downloaded nothing", {
        reason: { kind: "siteNoFittingFormat" },
      });
    }
    const out = [];
    for (const file of files) out.push({ path: file, name: path.basename(file), size: (await fs.stat(file)).size });
    return { kind: "files", files: out };
  };
}

/**
 * Watches what yt-dlp writes into the item's folder, measured every second (cheap: a few
 * entries), and aborts its signal with the reason: over `maxBytes` while downloading, the disk
 * down to its reserve, no first byte within the page's time limit, or no new byte for
 * `stallTimeoutMs`.
 */
function watchOutput(
  ctx: SourceContext,
  options: {
    stallTimeoutMs?: number | undefined;
    minSpeed?: MinSpeed | undefined;
    metadataMs: number;
    pageTimeout: () => DownloadError;
  },
): { signal: AbortSignal; progress(bytes: number): void; postProcessing(): void; stop(): void } {
  const controller = new AbortController();
  const started = Date.now();
  let downloading = false;
  let postProcessing = false;
  let lastChange = Date.now();
  let lastSize = 0;
  let lastBytes = 0;
  let busy = false;
  // Judged from the first byte: reading the page has its own limit.
  let floor: SpeedFloor | undefined;
  const fail = (error: DownloadError) => {
    if (!controller.signal.aborted) controller.abort(error);
  };
  const check = async () => {
    const now = Date.now();
    const size = await folderSize(ctx.dir);
    if (size !== lastSize) {
      lastSize = size;
      lastChange = now;
      if (size > 0) downloading = true;
    }
    // Parts and their merge together may pass the limit; the download alone may not.
    if (!postProcessing && size > ctx.maxBytes) {
      return fail(
        new DownloadError("TOO_LARGE", `yt-dlp's download passed ${ctx.maxBytes} bytes`, {
          reason: { kind: "siteVideoTooLarge", limit: ctx.maxBytes },
        }),
      );
    }
    await ctx.ensureDiskRoom();
    if (!downloading && now - started > options.metadataMs) return fail(options.pageTimeout());
    if (downloading && !postProcessing && options.minSpeed) {
      const total = Math.max(size, lastBytes);
      floor ??= new SpeedFloor(options.minSpeed, now, total);
      if (floor.check(now, total)) return fail(tooSlowError(options.minSpeed));
    }
    if (downloading && options.stallTimeoutMs && now - lastChange > options.stallTimeoutMs) fail(stalledError(options.stallTimeoutMs));
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    check()
      .catch((error: unknown) => {
        if (error instanceof DownloadError) fail(error);
        else ctx.logger.warn({ err: error instanceof Error ? error.message : String(error) }, "could not measure yt-dlp's output");
      })
      .finally(() => (busy = false));
  }, 1000);
  return {
    signal: controller.signal,
    progress(bytes) {
      downloading = true;
      if (bytes !== lastBytes) {
        lastBytes = bytes;
        lastChange = Date.now();
      }
    },
    postProcessing() {
      postProcessing = true;
      lastChange = Date.now();
    },
    stop() {
      clearInterval(timer);
    },
  };
}

/** Bytes in a folder and its subfolders; 0 when it is not there. */
async function folderSize(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await folderSize(full);
    else if (entry.isFile()) total += await fs.stat(full).then((s) => s.size, () => 0);
  }
  return total;
}

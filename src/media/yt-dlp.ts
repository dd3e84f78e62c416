import { accessSync, constants, promises as fs, readFileSync } from "node:fs";
import { isIP } from "node:net";
import path from "node:path";
import { type MinSpeed, SpeedFloor, tooSlowError } from "../net/transfer-speed.ts";
import { DownloadError, stopReason } from "../errors.ts";
import { formatBytes } from "../text/format.ts";
import { queueFound } from "../sources/crawler-source.ts";
import type { FoundItem, SourceContext, SourceResult } from "../sources/source.ts";
import { type MediaTools, SAFE_FORMATS, runTool, toolErrorDetail } from "./ffmpeg.ts";
import type { ToolProcesses } from "./tool-processes.ts";

/**
 * yt-dlp, wrapped once: where it is, the arguments (a format Telegram plays, within the size
 * limit, through the bot's guarded proxy), its JSON progress lines, and its failures.
 */

export interface YtDlpOptions {
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
  /** How often the item's folder is measured while yt-dlp writes into it (default 1 s). */
  watchIntervalMs?: number;
  processes?: ToolProcesses | undefined;
}

/** The little of `--flat-playlist --dump-single-json` the bot reads. */
interface YtDlpInfo {
  _type?: string;
  is_live?: boolean | null;
  live_status?: string | null;
  url?: string;
  webpage_url?: string;
  entries?: (YtDlpInfo | null)[] | null;
  formats?: { url?: string }[];
}

/**
 * Where each entry of a playlist can be fetched on its own: a site's entry page (yt-dlp reads it
 * again as an item of its own) or, for media found in a page (the generic extractor), the best
 * format's own URL, a file. Entries without either are left out. Pure.
 */
export function playlistEntries(info: YtDlpInfo, pageUrl: string): FoundItem[] {
  const found: FoundItem[] = [];
  const seen = new Set<string>();
  for (const entry of info.entries ?? []) {
    if (!entry) continue;
    const listed = entry._type === "url" || entry._type === "url_transparent";
    const file = listed ? undefined : entry.formats?.filter((f) => f.url).at(-1)?.url;
    const page = listed ? entry.url : entry.webpage_url !== pageUrl ? entry.webpage_url : undefined;
    const next: FoundItem | undefined = file && /^https?:/i.test(file) ? { url: file, expectFile: true } : page && /^https?:/i.test(page) ? { url: page } : undefined;
    if (next && !seen.has(next.url)) {
      seen.add(next.url);
      found.push(next);
    }
  }
  return found;
}

/** The configured yt-dlp, else the one on PATH; undefined when there is none. */
export function findYtDlp(configured: string | undefined): string | undefined {
  const candidates = configured ? [configured] : (process.env.PATH ?? "").split(path.delimiter).filter(Boolean).map((d) => path.join(d, "yt-dlp"));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** MP4 with H.264/AAC first, as Telegram plays it (as ytdlbot does), then whatever merges into MP4. */
const FORMAT = "b[ext=mp4][vcodec^=avc1]/bv*[ext=mp4][vcodec^=avc1]+ba[ext=m4a]/b[ext=mp4]/bv*+ba/b";

/**
 * Downloads what yt-dlp finds on a page into the item's directory, reporting its progress;
 * null when yt-dlp does not know the page either.
 */
export type YtDlpDownloader = (ctx: SourceContext, url: string) => Promise<SourceResult | null>;

const LIVE = new Set(["is_live", "is_upcoming", "post_live"]);

/**
 * yt-dlp with the bot's limits around it. It does its own networking, through the guarded proxy
 * only, and with its own downloader for everything (`--downloader native`, live streams refused):
 * no URL is handed to ffmpeg, whose every run (merging, fixing) gets local-file and container
 * whitelists from the wrapper scripts in `workDir`. Its output is measured as it grows, against
 * `maxFileSizeBytes` (`--max-filesize` holds only for a size known up front), the free disk and
 * the stall timer; reading a page has a time limit of its own.
 */
export function createYtDlpDownloader(options: YtDlpOptions): YtDlpDownloader {
  const metadataMs = options.metadataTimeoutMs ?? 30_000;
  let ffmpegLocation: Promise<string> | undefined;
  return async (ctx, url) => {
    const { signal } = ctx;
    const seconds = Math.round(metadataMs / 1000);
    ctx.progress({ bytesDone: 0, totalBytes: null, note: `waiting for yt-dlp to read the page (up to ${seconds} s)` });
    // Without tools, a place that is not there: yt-dlp then uses no ffmpeg at all, not one on PATH.
    ffmpegLocation ??= (options.tools ? writeToolWrappers(options.workDir, options.tools) : Promise.resolve(path.join(options.workDir, "no-ffmpeg"))).catch(
      (error: unknown) => {
        // A passing fault (a full disk) must not stay cached for the life of the process.
        ffmpegLocation = undefined;
        throw error;
      },
    );
    const common = [
      "--no-config", "--proxy", options.proxyUrl(),
      "--ffmpeg-location", await ffmpegLocation,
      ...(options.cookiesFile ? ["--cookies", options.cookiesFile] : []),
    ];
    const pageTimeout = () =>
      new DownloadError("NETWORK", `yt-dlp: the page did not answer within ${seconds} s`, {
        retryable: true,
        userMessage: `the page did not answer yt-dlp within ${seconds} s; it will be tried again.`,
      });
    const failed = (error: unknown): DownloadError | null => {
      if (signal.aborted) throw stopReason(signal);
      if (error instanceof DownloadError) return error;
      const detail = toolErrorDetail(error);
      if (/unsupported url/i.test(detail)) return null;
      return new DownloadError("NO_MEDIA", `yt-dlp: ${detail}`, {
        cause: error,
        retryable: !/no video formats|requested format is not available/i.test(detail),
        userMessage: "yt-dlp could not download the page's video (details are in the bot's log).",
      });
    };
    // The metadata first (entries only listed, not read): a playlist is queued entry by entry;
    // a video link that also names a playlist (YouTube's watch?v=…&list=…) is that one video.
    let info: YtDlpInfo;
    try {
      info = JSON.parse(
        await runTool(options.bin, [...common, "--no-playlist", "--flat-playlist", "--dump-single-json", url], {
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
    if (info.is_live || LIVE.has(info.live_status ?? "")) {
      throw new DownloadError("NO_MEDIA", `yt-dlp: a live stream (${info.live_status ?? "is_live"})`, {
        userMessage: "the page shows a live stream, which this bot does not record; send the link again once it is over.",
      });
    }
    ctx.progress({ bytesDone: 0, totalBytes: null, note: `waiting for yt-dlp to open the video (up to ${seconds} s)` });
    const watch = watchOutput(ctx, { ...options, metadataMs, pageTimeout });
    let files: string[] = [];
    try {
      await runTool(
        options.bin,
        [
          ...common, "--no-playlist", "--no-part", "--no-mtime", "--newline", "--progress",
          // yt-dlp's own downloader for HLS and DASH too: ffmpeg never gets a URL. A live stream
          // would still go to ffmpeg, so it is left out.
          "--downloader", "native", "--match-filter", "!is_live",
          "-f", FORMAT, "--merge-output-format", "mp4", "--max-filesize", String(ctx.maxBytes),
          "--progress-template", "download:PROGRESS %(progress)j",
          // Downloads done, merging and fixing up next (yt-dlp's own lines are off with --print).
          "--print", "post_process:POSTPROCESS %(ext)s",
          "--print", "after_move:FILE %(filepath)s",
          "-o", path.join(ctx.dir, "%(title).80B.%(ext)s"),
          url,
        ],
        {
          signal: AbortSignal.any([signal, watch.signal]),
          timeoutMs: options.timeoutMs ?? 6 * 60 * 60_000,
          processes: options.processes,
          onLine: (line) => {
            if (line.startsWith("FILE ")) files.push(line.slice(5).trim());
            // Merging or fixing up: the folder holds the parts and what is made of them.
            if (line.startsWith("POSTPROCESS ")) watch.postProcessing();
            if (!line.startsWith("PROGRESS ")) return;
            try {
              const p = JSON.parse(line.slice(9)) as { downloaded_bytes?: number; total_bytes?: number; total_bytes_estimate?: number };
              watch.progress(p.downloaded_bytes ?? 0);
              ctx.progress({ bytesDone: p.downloaded_bytes ?? 0, totalBytes: p.total_bytes ?? p.total_bytes_estimate ?? null });
            } catch {
              // a progress line that is not JSON (an odd title, say): the next one will do
            }
          },
        },
      );
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
        userMessage: "yt-dlp found the page's video but no format of it fits the bot's size limit (maxFileSizeBytes).",
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
    watchIntervalMs?: number | undefined;
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
          userMessage: `the video is larger than this bot's limit of ${formatBytes(ctx.maxBytes)} (maxFileSizeBytes).`,
        }),
      );
    }
    await ctx.ensureDiskRoom();
    if (!downloading && now - started > options.metadataMs) return fail(options.pageTimeout());
    if (downloading && !postProcessing && options.minSpeed && options.minSpeed.bytesPerSec > 0) {
      const total = Math.max(size, lastBytes);
      floor ??= new SpeedFloor(options.minSpeed, now, total);
      if (floor.check(now, total)) return fail(tooSlowError(options.minSpeed));
    }
    if (downloading && options.stallTimeoutMs && now - lastChange > options.stallTimeoutMs) {
      const s = Math.round(options.stallTimeoutMs / 1000);
      fail(new DownloadError("STALLED", `yt-dlp got no data for ${s} s`, { retryable: true, userMessage: `the server sent no data for ${s} s.` }));
    }
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
  }, options.watchIntervalMs ?? 1000);
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

/** Quotes a value for a POSIX shell script. Pure. */
function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/**
 * Writes the ffmpeg and ffprobe yt-dlp runs: scripts that run the real tools with
 * `-protocol_whitelist file` and the media-container `-format_whitelist` before every input
 * (yt-dlp's own `--postprocessor-args` cannot reach its ffprobe runs). Returns their folder.
 */
export async function writeToolWrappers(workDir: string, tools: MediaTools): Promise<string> {
  const dir = path.join(workDir, "yt-dlp-ffmpeg");
  await fs.mkdir(dir, { recursive: true });
  const guard = `-protocol_whitelist file -format_whitelist ${shellQuote(SAFE_FORMATS.join(","))}`;
  const head = "#!/bin/sh\n# Written by the bot (src/media/yt-dlp.ts): yt-dlp's ffmpeg runs open local media files only.\n";
  const ffmpeg = `${head}for arg do\n  shift\n  [ "$arg" = "-i" ] && set -- "$@" ${guard}\n  set -- "$@" "$arg"\ndone\nexec ${shellQuote(tools.ffmpeg)} "$@"\n`;
  const ffprobe = `${head}exec ${shellQuote(tools.ffprobe)} ${guard} "$@"\n`;
  for (const [name, text] of [["ffmpeg", ffmpeg], ["ffprobe", ffprobe]] as const) {
    // Written aside and renamed: a yt-dlp running meanwhile never runs half a script.
    await fs.writeFile(path.join(dir, `${name}.tmp`), text, { mode: 0o755 });
    await fs.rename(path.join(dir, `${name}.tmp`), path.join(dir, name));
  }
  return dir;
}

/** Asks yt-dlp's own extractor list which site extractor (not its generic one) takes a URL. */
const WHICH_EXTRACTOR = `
import sys
sys.path.insert(0, sys.argv[2])
from yt_dlp.extractor import gen_extractor_classes
url = sys.argv[1]
print(next((e.IE_NAME for e in gen_extractor_classes() if e.IE_NAME != "generic" and e.suitable(url)), ""))
`;

/**
 * Whether yt-dlp has an extractor of its own for a URL's site (YouTube, a broadcaster...): such a
 * link goes to yt-dlp first. Answered offline by yt-dlp's Python module, once per host; a bare IP
 * address is never a site of its own, and a yt-dlp that is not a Python script cannot be asked.
 */
export function createSiteMatcher(bin: string, processes?: ToolProcesses): (url: string, signal?: AbortSignal) => Promise<boolean> {
  const known = new Map<string, boolean>();
  let python: string | undefined;
  try {
    const first = readFileSync(bin, { encoding: "latin1" }).slice(0, 200).split("\n")[0] ?? "";
    const match = /^#!\s*(\S*python[\d.]*)\s*$/.exec(first) ?? /^#!\s*\S*env\s+(python[\d.]*)\s*$/.exec(first);
    python = match?.[1];
  } catch {
    python = undefined;
  }
  return async (url, signal) => {
    let host: string;
    try {
      host = new URL(url).hostname.replace(/^\[|\]$/g, "");
    } catch {
      return false;
    }
    if (!python || isIP(host)) return false;
    const cached = known.get(host);
    if (cached !== undefined) return cached;
    let name = "";
    try {
      name = (await runTool(python, ["-c", WHICH_EXTRACTOR, url, bin], { ...(signal ? { signal } : {}), timeoutMs: 20_000, processes })).trim();
    } catch {
      name = "";
    }
    known.set(host, name !== "");
    return name !== "";
  };
}

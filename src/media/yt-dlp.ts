import { accessSync, constants, promises as fs, readFileSync } from "node:fs";
import { isIP } from "node:net";
import path from "node:path";
import { DownloadError, stopReason } from "../errors.ts";
import { queueFound } from "../sources/crawler-source.ts";
import type { FoundItem, SourceContext, SourceResult } from "../sources/source.ts";
import { type MediaTools, runTool, toolErrorDetail } from "./ffmpeg.ts";

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
}

/** The little of `--flat-playlist --dump-single-json` the bot reads. */
interface YtDlpInfo {
  _type?: string;
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

export function createYtDlpDownloader(options: YtDlpOptions): YtDlpDownloader {
  return async (ctx, url) => {
    const { signal } = ctx;
    ctx.progress({ bytesDone: 0, totalBytes: null, note: "asking yt-dlp about the page" });
    const common = [
      "--no-config", "--proxy", options.proxyUrl(),
      ...(options.cookiesFile ? ["--cookies", options.cookiesFile] : []),
    ];
    const failed = (error: unknown): DownloadError | null => {
      if (signal.aborted) throw stopReason(signal);
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
      info = JSON.parse(await runTool(options.bin, [...common, "--no-playlist", "--flat-playlist", "--dump-single-json", url], { signal, timeoutMs: 5 * 60_000 })) as YtDlpInfo;
    } catch (error) {
      const reason = failed(error);
      if (reason) throw reason;
      return null;
    }
    if (info._type === "playlist") {
      const entries = playlistEntries(info, url);
      if (entries.length > 1) return queueFound(ctx, entries, options.maxItems);
    }
    let files: string[] = [];
    try {
      await runTool(
        options.bin,
        [
          ...common, "--no-playlist", "--no-part", "--no-mtime", "--newline", "--progress",
          ...(options.tools ? ["--ffmpeg-location", path.dirname(options.tools.ffmpeg)] : []),
          "-f", FORMAT, "--merge-output-format", "mp4", "--max-filesize", String(ctx.maxBytes),
          "--progress-template", "download:PROGRESS %(progress)j",
          "--print", "after_move:FILE %(filepath)s",
          "-o", path.join(ctx.dir, "%(title).80B.%(ext)s"),
          url,
        ],
        {
          signal,
          timeoutMs: options.timeoutMs ?? 6 * 60 * 60_000,
          onLine: (line) => {
            if (line.startsWith("FILE ")) files.push(line.slice(5).trim());
            if (!line.startsWith("PROGRESS ")) return;
            try {
              const p = JSON.parse(line.slice(9)) as { downloaded_bytes?: number; total_bytes?: number; total_bytes_estimate?: number };
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
    }
    files = files.filter((f) => f.startsWith(ctx.dir));
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
export function createSiteMatcher(bin: string): (url: string, signal?: AbortSignal) => Promise<boolean> {
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
      name = (await runTool(python, ["-c", WHICH_EXTRACTOR, url, bin], { ...(signal ? { signal } : {}), timeoutMs: 20_000 })).trim();
    } catch {
      name = "";
    }
    known.set(host, name !== "");
    return name !== "";
  };
}

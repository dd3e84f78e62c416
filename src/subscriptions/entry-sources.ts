import path from "node:path";
import { parseFeed } from "@rowanmanning/feed-parser";
import type { Got } from "got";
import { AppError, DownloadError, stopReason } from "../errors.ts";
import { classifyHttpError, httpStatusError } from "../net/http-client.ts";
import { isHtml } from "../sources/content-kind.ts";
import { readCapped, responseHeader, responseOf } from "../sources/http-probe.ts";
import { findPageMedia } from "../sources/page-media.ts";
import { runTool } from "../tools/run-tool.ts";
import type { ToolProcesses } from "../tools/tool-processes.ts";
import { type YtDlpInfo, commonArgs, metadataArgs, playlistEntries, ytDlpFailure } from "../tools/yt-dlp.ts";
import { resolveUrl } from "../sources/page-urls.ts";
import type { Entry, Listing, WatchKind } from "./subscription.ts";

/**
 * What a subscription's URL lists now, oldest entry first: an RSS or Atom feed (read with
 * @rowanmanning/feed-parser), a page the bot's page reader finds files on (a directory listing, a
 * page of episodes), or a playlist or channel yt-dlp lists (flat). Every byte comes through the
 * guarded HTTP client, and yt-dlp through the guarded proxy, as for any download.
 */

/** A feed or a page larger than this is not read: a podcast's whole history fits well within. */
export const LISTING_MAX_BYTES = 8 * 1024 * 1024;
/** Longest a feed or page may take to arrive, whatever its pace. */
const LISTING_DEADLINE_MS = 2 * 60_000;

export interface EntrySourcesOptions {
  http: Got;
  /** No byte for this long fails the check (`stallTimeoutMs`). */
  stallTimeoutMs: number;
  maxBytes?: number;
  ytDlp?: {
    bin: string;
    /** The guarded forward proxy (started with the bot). */
    proxyUrl: () => string;
    cookiesFile?: string | undefined;
    /** `<dataDir>/tools`: listing needs no ffmpeg, so yt-dlp is pointed at none there. */
    workDir: string;
    /** Longest yt-dlp may take to list a playlist. */
    timeoutMs: number;
    processes?: ToolProcesses | undefined;
  };
  /** Whether yt-dlp has an extractor of its own for the URL's site (its channels are not fetched as pages). */
  isSite?: (url: string, signal?: AbortSignal) => Promise<boolean>;
}

export type ListEntries = (url: string, known: WatchKind | null, signal: AbortSignal) => Promise<Listing>;

function feedUnreadable(detail: string): DownloadError {
  return new DownloadError("NO_MEDIA", `not a feed that can be read: ${detail}`, { retryable: true, reason: { kind: "feedUnreadable" } });
}

function nothingToWatch(): DownloadError {
  return new DownloadError("NO_MEDIA", "no feed, playlist or list of files there", { retryable: true, reason: { kind: "nothingToWatch" } });
}

/** What a response body looks like from its first bytes: a feed's root element, say. Pure. */
export function looksLikeFeed(contentType: string, body: Buffer): boolean {
  if (/\b(rss|atom|rdf)\+xml\b/i.test(contentType)) return true;
  const head = body.subarray(0, 2048).toString("latin1").replace(/^\uFEFF|^\xEF\xBB\xBF/, "").trimStart();
  const root = /^(?:<\?xml[^>]*>\s*)?(?:<!--[\s\S]*?-->\s*|<\?xml-stylesheet[^>]*>\s*)*<(rss|feed|rdf:RDF)\b/i.exec(head);
  return root !== null;
}

/** The text of an XML body, in the encoding its Content-Type or XML declaration names (UTF-8 else). */
function decodeXml(body: Buffer, contentType: string): string {
  const label =
    /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1] ?? /^\s*<\?xml[^>]*encoding\s*=\s*["']([^"']+)["']/i.exec(body.subarray(0, 200).toString("latin1"))?.[1];
  try {
    return new TextDecoder(label ?? "utf-8").decode(body);
  } catch {
    return new TextDecoder("utf-8").decode(body);
  }
}

/** An entry's address: a magnet as it is (a torrent feed's), else an http(s) URL as the page reader takes one. */
function httpUrl(href: string | null | undefined, base: string): string | null {
  const value = href?.trim();
  if (value && /^magnet:\?/i.test(value)) return value;
  return resolveUrl(value, base);
}

/**
 * A feed's entries, oldest first: each item's enclosure (a podcast's episode; an image is not
 * one), else its link. Sorted by date when every item has one; else the feed's own order read
 * backwards (feeds list the newest first). Pure.
 */
export function feedListing(text: string, feedUrl: string): Listing {
  let feed: ReturnType<typeof parseFeed>;
  try {
    feed = parseFeed(text);
  } catch (error) {
    throw feedUnreadable(error instanceof Error ? error.message : String(error));
  }
  const entries: Entry[] = [];
  for (const item of feed.items) {
    const media = item.media.find((m) => m.type !== "image" && httpUrl(m.url, feedUrl));
    const url = httpUrl(media?.url, feedUrl) ?? httpUrl(item.url, feedUrl);
    if (!url) continue;
    const published = item.published ?? item.updated;
    entries.push({
      key: item.id ?? url,
      url,
      title: item.title,
      publishedAt: published && Number.isFinite(published.getTime()) ? published.getTime() : null,
      ...(media ? { expectFile: true } : {}),
    });
  }
  entries.reverse();
  if (entries.every((e) => e.publishedAt !== null)) entries.sort((a, b) => a.publishedAt! - b.publishedAt!);
  return { kind: "feed", name: feed.title, entries: uniqueKeys(entries) };
}

/** The first of each key (a feed that repeats a guid lists one entry). */
function uniqueKeys(entries: Entry[]): Entry[] {
  const seen = new Set<string>();
  return entries.filter((e) => !seen.has(e.key) && seen.add(e.key));
}

export function createEntrySources(options: EntrySourcesOptions): ListEntries {
  const maxBytes = options.maxBytes ?? LISTING_MAX_BYTES;

  async function fetchBody(url: string, signal: AbortSignal): Promise<{ body: Buffer; contentType: string; finalUrl: string }> {
    const stream = options.http.stream(url, {
      signal,
      throwHttpErrors: false,
      decompress: true,
      headers: {
        accept: "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5",
        "accept-encoding": "gzip, deflate, br",
      },
      timeout: { socket: options.stallTimeoutMs, request: LISTING_DEADLINE_MS },
    });
    // Errors reach us through the iteration below; this keeps a late one from crashing the process.
    stream.on("error", () => {});
    try {
      const response = await responseOf(stream);
      if (response.statusCode < 200 || response.statusCode >= 300) throw httpStatusError(response.statusCode, url);
      const body = await readCapped(stream, maxBytes, () => new DownloadError("NO_MEDIA", `over ${maxBytes} bytes`, { retryable: true, reason: { kind: "pageTooLarge", limit: maxBytes } }));
      return { body, contentType: responseHeader(response, "content-type") ?? "", finalUrl: response.url || url };
    } finally {
      stream.destroy();
    }
  }

  async function playlist(url: string, signal: AbortSignal): Promise<Listing> {
    const ytDlp = options.ytDlp;
    if (!ytDlp) throw nothingToWatch();
    const seconds = Math.round(ytDlp.timeoutMs / 1000);
    const common = commonArgs({ proxyUrl: ytDlp.proxyUrl(), ffmpegLocation: path.join(ytDlp.workDir, "no-ffmpeg"), cookiesFile: ytDlp.cookiesFile });
    let info: YtDlpInfo & { title?: string | null };
    try {
      const out = await runTool(ytDlp.bin, metadataArgs(common, url), {
        signal,
        timeoutMs: ytDlp.timeoutMs,
        timeoutError: () => new DownloadError("NETWORK", `yt-dlp: no list within ${seconds} s`, { retryable: true, reason: { kind: "sitePageTimeout", seconds } }),
        processes: ytDlp.processes,
      });
      info = JSON.parse(out) as typeof info;
    } catch (error) {
      if (signal.aborted) throw stopReason(signal);
      if (error instanceof AppError) throw error;
      throw ytDlpFailure(error) ?? nothingToWatch();
    }
    if (info._type !== "playlist") throw nothingToWatch();
    const entries: Entry[] = [];
    for (const entry of info.entries ?? []) {
      if (!entry) continue;
      const found = playlistEntries({ entries: [entry] }, url)[0];
      if (!found) continue;
      const title = (entry as { title?: unknown }).title;
      entries.push({ key: found.url, url: found.url, title: typeof title === "string" ? title : null, publishedAt: null, ...(found.expectFile ? { expectFile: true } : {}) });
    }
    // A channel or playlist lists its newest first.
    entries.reverse();
    return { kind: "playlist", name: typeof info.title === "string" ? info.title : null, entries: uniqueKeys(entries) };
  }

  return async (url, known, signal) => {
    try {
      if (known === "playlist" || (known === null && options.ytDlp && (await options.isSite?.(url, signal)))) return await playlist(url, signal);
      const { body, contentType, finalUrl } = await fetchBody(url, signal);
      if (!isHtml(contentType) && looksLikeFeed(contentType, body)) return feedListing(decodeXml(body, contentType), finalUrl);
      if (/\bxml\b/i.test(contentType) && !isHtml(contentType)) return feedListing(decodeXml(body, contentType), finalUrl);
      if (!isHtml(contentType)) throw nothingToWatch();
      const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1];
      const media = findPageMedia(body, finalUrl, charset ? { charset } : {});
      const files = media.files.length ? media.files : media.main ? [media.main.url] : [];
      if (files.length === 0) return await playlist(url, signal);
      const entries = files.map((file): Entry => ({ key: file, url: file, title: null, publishedAt: null, expectFile: true }));
      return { kind: "listing", name: media.title, entries: uniqueKeys(entries) };
    } catch (error) {
      if (signal.aborted) throw stopReason(signal);
      if (error instanceof AppError) throw error;
      throw classifyHttpError(error, url);
    }
  };
}

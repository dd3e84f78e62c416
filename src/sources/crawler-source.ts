import type { Got } from "got";
import path from "node:path";
import { AppError, DownloadError, stopReason, tooLargeError } from "../errors.ts";
import { classifyHttpError, httpStatusError } from "../net/http-client.ts";
import { safeFileName } from "../storage/paths.ts";
import { truncate } from "../text/format.ts";
import { isHtml } from "./content-kind.ts";
import { finishPage, queueFound } from "./found-items.ts";
import { probeUrl, readCapped, responseHeader, responseOf } from "./http-probe.ts";
import { galleryOffer, queueChosenEntries } from "./page-gallery.ts";
import { type MediaCandidate, findPageMedia } from "./page-media.ts";
import { extensionOfUrl } from "./page-urls.ts";
import type { SiteDownloader } from "./site-source.ts";
import type { Source, SourceContext, SourceResult } from "./source.ts";

/** Pages larger than this are not parsed: a page worth crawling is far smaller. */
export const PAGE_MAX_BYTES = 5 * 1024 * 1024;

export interface CrawlerSourceOptions {
  http: Got;
  /** At most this many files of one page are queued (`crawlMaxItems`). */
  maxItems: number;
  /** No bytes of the page for this long fails the attempt. */
  stallTimeoutMs: number;
  /** Default {@link PAGE_MAX_BYTES}. */
  pageMaxBytes?: number;
  /** yt-dlp, for a page the built-in reader finds nothing on. */
  ytdlp?: SiteDownloader;
}

/** Nothing to download on a page; the message says what the reader saw. */
export function noMediaError(scriptedPlayer = false): DownloadError {
  return new DownloadError("NO_MEDIA", "no media found on the page", {
    reason: { kind: scriptedPlayer ? "scriptedPlayer" : "noMedia" },
  });
}

function pageTooLargeError(limit: number): DownloadError {
  return new DownloadError("NO_MEDIA", `the page is over ${limit} bytes`, {
    reason: { kind: "pageTooLarge", limit },
  });
}

/**
 * The item's name when it continues as the page's main media: the page title with the media's
 * extension (so the upload is sent as a video or audio), else the file's own name.
 */
export function mediaName(pageTitle: string | null, fileName: string, url: string): string {
  if (!pageTitle) return fileName;
  const ext = path.extname(fileName).toLowerCase() || extensionOfUrl(url);
  const stem = truncate(pageTitle, 180);
  return safeFileName(ext && !stem.toLowerCase().endsWith(ext) ? `${stem}${ext}` : stem, fileName);
}

interface Page {
  body: Buffer;
  finalUrl: string;
  charset?: string;
}

/**
 * Handles items whose URL turned out to be an HTML page: reads the page (at most a few MB),
 * finds its media, and either continues the item as a direct download of the one main media, or
 * queues each file the page lists as its own item, through the same checks as a pasted link. A
 * page that shows several videos asks first which of them should come, when the chat is asked.
 */
/** Longest a page may take to arrive, whatever its pace. */
const PAGE_DEADLINE_MS = 2 * 60_000;

export function createCrawlerSource(options: CrawlerSourceOptions): Source {
  const pageMaxBytes = options.pageMaxBytes ?? PAGE_MAX_BYTES;

  /** The page's bytes, or null when it is not HTML (any more). */
  async function fetchPage(url: string, signal: AbortSignal): Promise<Page | null> {
    const stream = options.http.stream(url, {
      signal,
      throwHttpErrors: false,
      decompress: true,
      headers: {
        accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
        "accept-encoding": "gzip, deflate, br",
      },
      // A page trickling a byte now and then never trips the socket timer: the whole page has a deadline too.
      timeout: { socket: options.stallTimeoutMs, request: PAGE_DEADLINE_MS },
    });
    // Errors reach us through the iteration below; this keeps a late one from crashing the process.
    stream.on("error", () => {});
    try {
      const response = await responseOf(stream);
      if (response.statusCode < 200 || response.statusCode >= 300) throw httpStatusError(response.statusCode, url);
      const contentType = responseHeader(response, "content-type") ?? "";
      if (!isHtml(contentType)) return null;
      const length = Number(responseHeader(response, "content-length") ?? NaN);
      if (length > pageMaxBytes) throw pageTooLargeError(pageMaxBytes);
      const body = await readCapped(stream, pageMaxBytes, () => pageTooLargeError(pageMaxBytes));
      const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1];
      return { body, finalUrl: response.url || url, ...(charset ? { charset } : {}) };
    } finally {
      stream.destroy();
    }
  }

  /**
   * Tries to continue the item as a download of the page's main media. Returns null when that
   * "media" is itself a page (an embedded player, say), so the caller falls back to the links.
   */
  async function continueWithMain(ctx: SourceContext, main: MediaCandidate, title: string | null): Promise<SourceResult | null> {
    const { item } = ctx;
    const open = await ctx.findOpen(main.url);
    if (open && open.item.id !== item.id) {
      const media = main.kind === "audio" || main.kind === "og:audio" ? "audio" : "video";
      return finishPage(ctx, { kind: "already-queued", itemId: open.item.id, media, position: open.position, status: open.item.status });
    }
    const probe = await probeUrl(options.http, main.url, ctx.signal);
    if (probe.contentType && isHtml(probe.contentType)) return null;
    if (probe.size !== null && probe.size > ctx.maxBytes) throw tooLargeError(probe.size, ctx.maxBytes);
    await ctx.checkpoint({ title: mediaName(title, probe.title, main.url), sizeBytes: probe.size });
    ctx.logger.info({ page: item.url, media: main.url, from: main.kind }, "page has one main media");
    return { kind: "reroute", sourceKind: "direct", url: main.url };
  }


  return {
    kind: "crawler",
    async download(ctx: SourceContext): Promise<SourceResult> {
      const { item, signal } = ctx;
      try {
        // Chosen from the page's videos: those offered, as they were shown; the page is not read again.
        if (ctx.choice?.kind === "entries" && item.choiceOffer?.kind === "entries") {
          return await queueChosenEntries(ctx, item.choiceOffer, ctx.choice, options.maxItems);
        }
        ctx.progress({ bytesDone: 0, totalBytes: null, stage: { kind: "reading-page" } });
        const page = await fetchPage(item.url, signal);
        // The server no longer sends a page: let the direct handler take it as a file.
        if (!page) return { kind: "reroute", sourceKind: "direct" };
        const media = findPageMedia(page.body, page.finalUrl, page.charset ? { charset: page.charset } : {});
        // The page item's name is only shown (a main media gets a safe file name of its own).
        if (media.title) await ctx.checkpoint({ title: truncate(media.title, 200) });

        const isSelf = (url: string) => url === item.url || url === page.finalUrl;
        // Several videos on the page (a gallery, a playlist): which should come? Not asked, it goes on as before.
        if (ctx.ask?.entries) {
          const offer = await galleryOffer(options.http, ctx, media, isSelf, options.maxItems);
          if (offer) {
            ctx.logger.info({ page: item.url, videos: offer.entries.length }, "page shows several videos: asking which");
            return { kind: "choose", offer };
          }
        }
        let rejected: string | undefined;
        if (media.main && !isSelf(media.main.url)) {
          const result = await continueWithMain(ctx, media.main, media.title);
          if (result) return result;
          rejected = media.main.url;
        }
        const files = media.files.filter((url) => url !== rejected && !isSelf(url));
        if (files.length === 0) {
          // yt-dlp knows players the built-in reader does not (a player page behind og:video, say).
          const found = options.ytdlp ? await options.ytdlp(ctx, item.url) : null;
          if (found) return found;
          throw noMediaError(media.scriptedPlayer);
        }
        return await queueFound(ctx, files.map((url) => ({ url, expectFile: true })), options.maxItems);
      } catch (error) {
        if (signal.aborted) throw stopReason(signal);
        if (error instanceof AppError) throw error;
        throw classifyHttpError(error, item.url);
      }
    },
  };
}

import { promises as fs } from "node:fs";
import path from "node:path";
import type { Got, Response } from "got";
import type { Segment } from "../db/segment-repository.ts";
import { DownloadError, stopReason, tooLargeError } from "../errors.ts";
import { classifyHttpError, httpStatusError } from "../net/http-client.ts";
import { FileSink } from "../storage/file-sink.ts";
import { safeFileName } from "../storage/paths.ts";
import { filenameFromDisposition, responseHeader, totalFromContentRange, responseOf } from "./http-probe.ts";
import { DISK_CHECK_BYTES, RANGE_REFUSED, type RangedDownloadOptions, downloadRanges, takeBody, type TransferLimits, watchTransfer } from "./ranged-download.ts";
import { canSplit, coversFile, planSegments, bytesMissing } from "./segments.ts";
import type { Source, SourceContext, SourceResult } from "./source.ts";
import { isHtml, isStreamManifest, isTorrentFile } from "./content-kind.ts";

export interface DirectSourceOptions {
  http: Got;
  /** No bytes for `stallTimeoutMs`, or too few over the speed window, fails the attempt. */
  limits: TransferLimits;
  /** Connections for one big file from a server that serves ranges; 1 (the default) turns splitting off. */
  connections?: number;
  /** There is a stream source (HLS, DASH; it needs ffmpeg): a manifest goes there. Without one, it is just a file. */
  streams?: boolean;
  /**
   * Whether yt-dlp has an extractor of its own for a link: such a link goes to the site source
   * before anything is fetched, unless the site source declined it already (then it is fetched here).
   */
  sites?: (url: string, signal?: AbortSignal) => Promise<boolean>;
}

/**
 * Downloads one HTTP(S) file to the item's directory, streaming to disk. What is not a file goes
 * to its own source (reroute): a site yt-dlp knows, a page, a .torrent, a stream's manifest. A
 * retry continues from the bytes already there with `Range`, guarded by `If-Range` so a file that
 * changed on the server starts over instead of being stitched from two versions.
 *
 * A big file from a server that serves ranges is fetched over several connections at once (the
 * first request goes on as the first part), each part resumed from its own bytes. A server that
 * refuses a part gets one connection and a fresh start.
 */
export function createDirectSource(options: DirectSourceOptions): Source {
  const connections = options.connections ?? 1;
  return {
    kind: "direct",
    async download(ctx: SourceContext): Promise<SourceResult> {
      if (options.sites && !ctx.declined?.has("site") && (await options.sites(ctx.item.url, ctx.signal))) {
        return { kind: "reroute", sourceKind: "site" };
      }
      let result = await fetchFile(ctx, connections > 1);
      if (result === RANGE_REFUSED) {
        ctx.logger.info("the server refused a part: starting over on one connection");
        const file = path.join(ctx.dir, safeFileName(ctx.item.title));
        // What goes up of the parts stops before their bytes do (the server's file may have changed).
        await ctx.growing?.({ path: file, name: path.basename(file), size: null, fresh: true, missing: () => 0 });
        await ctx.segments.clear();
        await fs.rm(file, { force: true });
        result = await fetchFile(ctx, false);
      }
      if (result === RANGE_REFUSED) throw new DownloadError("INTERNAL", "a single connection asked for parts", { reason: { kind: "oneConnectionParts" } });
      return result;
    },
  };

  /** Resumes a file whose parts were being fetched over several connections. */
  async function resumeParts(ctx: SourceContext, saved: Segment[]): Promise<SourceResult | typeof RANGE_REFUSED> {
    const { item } = ctx;
    const file = path.join(ctx.dir, safeFileName(item.title));
    const validator = validatorOf(item);
    const there = await fs.stat(file).then(() => true, () => false);
    if (!there || validator === null || !coversFile(saved, item.sizeBytes)) return RANGE_REFUSED;
    return fetchParts(ctx, { url: item.url, file, total: item.sizeBytes!, validator, segments: saved, fresh: false });
  }

  /** Fetches the parts over their connections; once the file is whole, its parts are forgotten. */
  async function fetchParts(
    ctx: SourceContext,
    job: Pick<RangedDownloadOptions, "url" | "file" | "total" | "validator" | "segments" | "first" | "fresh">,
  ): Promise<SourceResult | typeof RANGE_REFUSED> {
    await ctx.growing?.({ path: job.file, name: path.basename(job.file), size: job.total, fresh: job.fresh, missing: (from, to) => bytesMissing(job.segments, from, to) });
    const outcome = await downloadRanges({
      ...job,
      http: options.http,
      connections,
      signal: ctx.signal,
      limits: options.limits,
      save: ctx.segments.save,
      progress: (bytesDone) => ctx.progress({ bytesDone, totalBytes: job.total }),
      ensureDiskRoom: ctx.ensureDiskRoom,
    });
    if (outcome === RANGE_REFUSED) return outcome;
    await ctx.segments.clear();
    return { kind: "files", files: [{ path: job.file, name: path.basename(job.file), size: job.total }] };
  }

  async function fetchFile(ctx: SourceContext, split: boolean): Promise<SourceResult | typeof RANGE_REFUSED> {
      const { item, signal } = ctx;
      // Parts saved by an earlier attempt resume as parts, even on one connection now (the file
      // has holes between them: appending to it would not do).
      const saved = await ctx.segments.load();
      if (saved.length > 0) return resumeParts(ctx, saved);
      // Named after the item's title, which a retry sees as this attempt leaves it: a name from
      // Content-Disposition is adopted (below) before the first byte is written.
      let file = path.join(ctx.dir, safeFileName(item.title));
      let existing = 0;
      try {
        existing = (await fs.stat(file)).size;
      } catch {
        existing = 0;
      }
      const validator = validatorOf(item);
      const resume = existing > 0 && validator !== null;
      const headers: Record<string, string> = { "accept-encoding": "identity" };
      if (resume) {
        headers.range = `bytes=${existing}-`;
        headers["if-range"] = validator;
      }

      if (signal.aborted) throw stopReason(signal);
      const watch = watchTransfer(signal, options.limits);
      const { arm } = watch;

      const stream = options.http.stream(item.url, { headers, signal: watch.signal });
      // Errors are handled through the promises below; this keeps a late one from crashing the process.
      stream.on("error", () => {});

      try {
        arm();
        const response = await responseOf(stream);
        const status = response.statusCode;
        let offset = 0;
        if (status === 206 && resume) {
          const range = responseHeader(response, "content-range")?.match(/^bytes (\d+)-/);
          if (!range || Number(range[1]) !== existing) {
            throw new DownloadError("HTTP_TRANSIENT", "the server answered a different range than asked", { retryable: true, reason: { kind: "wrongRange" } });
          }
          offset = existing;
        } else if (status !== 200 && status !== 206) {
          throw httpStatusError(status, item.url);
        }
        const total =
          status === 206
            ? totalFromContentRange(responseHeader(response, "content-range") ?? undefined)
            : responseHeader(response, "content-length") !== null
              ? Number(responseHeader(response, "content-length"))
              : null;
        // Pages, .torrent files and manifests go to their sources before the size limit: their
        // own size is not the size of what they lead to.
        const contentType = responseHeader(response, "content-type") ?? "";
        if (offset === 0 && isHtml(contentType)) {
          stream.destroy();
          return { kind: "reroute", sourceKind: "crawler" };
        }
        if (offset === 0 && isTorrentFile(contentType, item.url)) {
          stream.destroy();
          return { kind: "reroute", sourceKind: "torrent" };
        }
        if (offset === 0 && options.streams && isStreamManifest(contentType, item.url)) {
          stream.destroy();
          return { kind: "reroute", sourceKind: "stream" };
        }
        if (total !== null && total > ctx.maxBytes) throw tooLargeError(total, ctx.maxBytes);

        const taken = takeBody(stream);
        const { body } = taken;

        const named = offset === 0 ? filenameFromDisposition(responseHeader(response, "content-disposition") ?? undefined) : undefined;
        await ctx.checkpoint({
          etag: responseHeader(response, "etag"),
          lastModified: responseHeader(response, "last-modified"),
          sizeBytes: total,
          ...(named && safeFileName(named) !== item.title ? { title: safeFileName(named) } : {}),
        });
        if (named) file = path.join(ctx.dir, safeFileName(named));

        const partsValidator = validatorOf({ etag: responseHeader(response, "etag"), lastModified: responseHeader(response, "last-modified") });
        if (split && offset === 0 && status === 200 && canSplit({ connections, total, acceptRanges: responseHeader(response, "accept-ranges"), validator: partsValidator })) {
          // This request goes on as the first part; the others get their own connections. The
          // parts have a watch of their own (stall and speed): this one must not judge them.
          watch.dispose();
          const segments = planSegments(total!, connections);
          // Stored before the first byte is written: a crash from here on finds the plan.
          await ctx.segments.save(segments);
          return await fetchParts(ctx, { url: response.url || item.url, file, total: total!, validator: partsValidator!, segments, first: taken, fresh: true });
        }

        let done = offset;
        // Not pipeline(): when the connection drops, pipeline would destroy the file stream and
        // lose what it still buffered; here the sink is closed, so every byte received before
        // the failure is on disk for the next attempt's Range request.
        const out = new FileSink(file, { flags: offset > 0 ? "a" : "w" });
        await ctx.growing?.({ path: file, name: path.basename(file), size: total, fresh: offset === 0, missing: (from, to) => Math.max(0, to - Math.max(from, offset + out.written)) });
        ctx.progress({ bytesDone: done, totalBytes: total });
        try {
          let unchecked = 0;
          for await (const chunk of body as AsyncIterable<Buffer>) {
            arm(chunk.length);
            if (done + chunk.length > ctx.maxBytes) throw tooLargeError(done + chunk.length, ctx.maxBytes);
            // The size may be unknown or wrong: stop before the disk is full, not at it.
            unchecked += chunk.length;
            if (unchecked >= DISK_CHECK_BYTES) {
              unchecked = 0;
              await ctx.ensureDiskRoom();
            }
            await out.write(chunk);
            done += chunk.length;
            ctx.progress({ bytesDone: done, totalBytes: total });
          }
        } finally {
          taken.destroy();
          await out.close();
        }
        const broken = taken.broken();
        if (broken !== undefined) throw broken;
        if (total !== null && done !== total) {
          throw new DownloadError("NETWORK", `the transfer ended at ${done} of ${total} bytes`, { retryable: true, reason: { kind: "transferCut", done, total } });
        }
        return { kind: "files", files: [{ path: file, name: path.basename(file), size: done }] };
      } catch (error) {
        if (signal.aborted) throw stopReason(signal);
        const tripped = watch.failure();
        if (tripped) throw tripped;
        if (error instanceof DownloadError) throw error;
        if ((error as { response?: Response }).response?.statusCode === 416) {
          // Our partial file no longer fits the server's; start over on the next attempt.
          await fs.rm(file, { force: true });
        }
        throw classifyHttpError(error, item.url);
      } finally {
        watch.dispose();
        stream.destroy();
      }
  }
}

/** What If-Range may carry: a strong ETag, else Last-Modified. */
function validatorOf(item: { etag: string | null; lastModified: string | null }): string | null {
  return item.etag && !item.etag.startsWith("W/") ? item.etag : item.lastModified;
}

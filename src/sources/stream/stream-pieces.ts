import { createDecipheriv } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";
import type { Got } from "got";
import pLimit from "p-limit";
import { AppError, DownloadError, stopReason, toAppError } from "../../errors.ts";
import { classifyHttpError, httpStatusError } from "../../net/http-client.ts";
import { FileSink } from "../../storage/file-sink.ts";
import { responseHeader, responseOf } from "../http-probe.ts";
import { DISK_CHECK_BYTES, type TransferLimits, takeBody, watchTransfer } from "../ranged-download.ts";
import type { SourceContext } from "../source.ts";
import { fetchSmall } from "./small-body.ts";
import type { StreamPiece } from "./stream-manifest.ts";
import { type StreamPlan, streamTooLarge } from "./stream-plan.ts";

/** Fetching a stream's pieces (init sections, keys, segments) through the guarded client, several at once. */

/** The pieces' own folder in the stream's: one listing tells which are there, one removal ends them. */
const piecesDir = (work: string) => path.join(work, "pieces");

/** Where a fetched piece is kept. */
export const pieceFile = (work: string, track: number, index: number) => path.join(piecesDir(work), `${track}-${index}.bin`);

/**
 * Fetches every piece not on disk yet, `connections` at once. A piece goes to a temporary name
 * and is renamed once whole, so a piece file on disk is always complete. One watch covers them
 * all: no byte for the stall time, or too few over the speed window, fails the attempt.
 */
export async function fetchPieces(options: { http: Got; limits: TransferLimits; connections: number }, ctx: SourceContext, work: string, plan: StreamPlan): Promise<number> {
  const { signal } = ctx;
  const all = plan.tracks.flatMap((track, t) => track.pieces.map((piece, i) => ({ piece, file: pieceFile(work, t, i) })));
  let done = 0;
  let have = 0;
  const missing: typeof all = [];
  await fs.mkdir(piecesDir(work), { recursive: true });
  // Only the pieces listed are looked at: a fresh stream of thousands of segments costs one listing.
  const there = new Set(await fs.readdir(piecesDir(work)));
  for (const entry of all) {
    const size = there.has(path.basename(entry.file)) ? await fs.stat(entry.file).then((s) => s.size, () => -1) : -1;
    // A plain byte range has a size to check; a piece of another size is fetched again.
    const expected = entry.piece.range && !entry.piece.key ? entry.piece.range.length : undefined;
    if (size >= 0 && (expected === undefined || size === expected)) {
      done += size;
      have++;
    } else missing.push(entry);
  }
  if (done > ctx.maxBytes) throw streamTooLarge(ctx.maxBytes);
  if (missing.length && have) ctx.logger.info({ have, missing: missing.length }, "resuming a stream from the segments on disk");
  const total = plan.estimatedBytes;
  const report = () => ctx.progress({ bytesDone: done, totalBytes: total, stage: { kind: "segments", done: have, total: all.length } });
  report();
  if (missing.length === 0) return done;

  const watch = watchTransfer(signal, options.limits);
  const keys = new Map<string, Promise<Buffer>>();
  const limit = pLimit(Math.max(1, options.connections));
  let unchecked = 0;
  let failure: unknown;
  const onBytes = async (n: number, kept = true) => {
    watch.arm(n);
    // Bytes a server sent that are not the piece's (it ignored Range) count for the speed only.
    if (!kept) return;
    done += n;
    if (done > ctx.maxBytes) throw streamTooLarge(ctx.maxBytes);
    unchecked += n;
    if (unchecked >= DISK_CHECK_BYTES) {
      unchecked = 0;
      await ctx.ensureDiskRoom();
    }
    report();
  };
  try {
    watch.arm();
    await Promise.all(
      missing.map(async ({ piece, file }) => {
        try {
          const temp = await limit(async () => {
            if (watch.signal.aborted) return undefined;
            const key = piece.key ? await keyOf(options.http, keys, piece.key.url, watch.signal) : undefined;
            return fetchPiece(options.http, piece, file, watch.signal, onBytes, key);
          });
          if (temp === undefined) return;
          // Outside the connection's turn: the next segment is on its way while this one is synced.
          await keepPiece(temp, file);
          have++;
          report();
        } catch (error) {
          failure ??= error;
          watch.abort();
        }
      }),
    );
  } finally {
    watch.dispose();
    limit.clearQueue();
  }
  if (signal.aborted) throw stopReason(signal);
  const tripped = watch.failure();
  if (tripped) throw tripped;
  if (failure !== undefined) throw failure instanceof AppError ? failure : classifyHttpError(failure, "");
  return done;
}

/** An AES-128 key: exactly 16 bytes, fetched once per URL. */
function keyOf(http: Got, keys: Map<string, Promise<Buffer>>, url: string, signal: AbortSignal): Promise<Buffer> {
  let key = keys.get(url);
  if (!key) {
    key = fetchKey(http, url, signal);
    keys.set(url, key);
  }
  return key;
}

async function fetchKey(http: Got, url: string, signal: AbortSignal): Promise<Buffer> {
  const notAKey = { kind: "streamBadKey" } as const;
  const { body } = await fetchSmall(http, url, signal, 16, { tooLarge: notAKey, timedOut: { kind: "streamKeyTimedOut" } });
  if (body.length !== 16) throw new DownloadError("NO_MEDIA", `stream: key of ${body.length} bytes`, { reason: notAKey });
  return body;
}

/** One piece (or its byte range), decrypted when it has a key, whole in the temporary file it returns. */
async function fetchPiece(
  http: Got,
  piece: StreamPiece,
  file: string,
  signal: AbortSignal,
  onBytes: (n: number, kept?: boolean) => Promise<void>,
  key?: Buffer,
): Promise<string> {
  const headers: Record<string, string> = { "accept-encoding": "identity" };
  if (piece.range) headers.range = `bytes=${piece.range.offset}-${piece.range.offset + piece.range.length - 1}`;
  const stream = http.stream(piece.url, { headers, signal });
  stream.on("error", () => {});
  const temp = `${file}.part`;
  try {
    const response = await responseOf(stream);
    const status = response.statusCode;
    if (status !== 200 && status !== 206) throw httpStatusError(status, piece.url);
    if (piece.range && status === 206) {
      const start = /^bytes (\d+)-/.exec(responseHeader(response, "content-range") ?? "")?.[1];
      if (Number(start) !== piece.range.offset) {
        throw new DownloadError("HTTP_TRANSIENT", "a segment's server answered another range than asked", { retryable: true, reason: { kind: "streamWrongRange" } });
      }
    }
    // A server that ignores Range sends the whole file: the piece is cut out of it.
    let skip = piece.range && status === 200 ? piece.range.offset : 0;
    let left = piece.range ? piece.range.length : Number.POSITIVE_INFINITY;
    const taken = takeBody(stream);
    const decipher = key && piece.key ? createDecipheriv("aes-128-cbc", key, Buffer.from(piece.key.iv, "hex")) : undefined;
    const out = new FileSink(temp, { flags: "w" });
    try {
      for await (let chunk of taken.body) {
        if (skip > 0) {
          const cut = Math.min(skip, chunk.length);
          skip -= cut;
          chunk = chunk.subarray(cut);
          await onBytes(cut, false);
        }
        if (chunk.length > left) chunk = chunk.subarray(0, left);
        left -= chunk.length;
        if (chunk.length) {
          await onBytes(chunk.length);
          await out.write(decipher ? decipher.update(chunk) : chunk);
        }
        if (left === 0) break;
      }
      const broken = taken.broken();
      if (broken !== undefined) throw broken;
      if (piece.range && left > 0) throw new DownloadError("NETWORK", "a segment ended early", { retryable: true, reason: { kind: "streamSegmentCut" } });
      if (decipher) {
        try {
          await out.write(decipher.final());
        } catch (error) {
          throw new DownloadError("NO_MEDIA", "stream: a segment did not decrypt", {
            cause: error,
            reason: { kind: "streamUndecryptable" },
          });
        }
      }
    } finally {
      taken.destroy();
      await out.close();
    }
    return temp;
  } catch (error) {
    await fs.rm(temp, { force: true }).catch(() => {});
    if (error instanceof AppError) throw error;
    throw classifyHttpError(error, piece.url);
  } finally {
    stream.destroy();
  }
}

/** A whole piece renamed into place, on the disk first: a power cut must not leave an empty one there. */
async function keepPiece(temp: string, file: string): Promise<void> {
  try {
    const handle = await fs.open(temp, "r+");
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true }).catch(() => {});
    // A disk's error, not the network's (a full disk is told as one).
    throw toAppError(error);
  }
}

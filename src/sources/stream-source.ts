import { createDecipheriv } from "node:crypto";
import { createReadStream, promises as fs } from "node:fs";
import path from "node:path";
import type { Got, Response } from "got";
import pLimit from "p-limit";
import { AppError, DownloadError, stopReason } from "../errors.ts";
import { type MediaTools, joinTracksArgs, progressWatch } from "../tools/ffmpeg.ts";
import { runTool, toolErrorDetail } from "../tools/run-tool.ts";
import { classifyHttpError, httpStatusError } from "../net/http-client.ts";
import { FileSink } from "../storage/file-sink.ts";
import { safeFileName } from "../storage/paths.ts";
import { formatBytes } from "../text/format.ts";
import { manifestKind } from "./content-kind.ts";
import { responseHeader } from "./http-probe.ts";
import { DISK_CHECK_BYTES, type TransferLimits, takeBody, watchTransfer } from "./ranged-download.ts";
import type { SourceContext, SourceResult } from "./source.ts";
import {
  type ParsedManifest,
  type ParsedMpd,
  type StreamPiece,
  type StreamTrack,
  MAX_PIECES,
  checkDash,
  parseHls,
  pickVariant,
  readDash,
  sniffContainer,
} from "./stream/stream-manifest.ts";
import { parseMpdIsolated } from "./stream/mpd-isolated.ts";

/** Downloads an HLS or DASH stream into one MP4 (what the direct handler hands a manifest to). */
export type StreamDownloader = (ctx: SourceContext, url: string) => Promise<SourceResult>;

export interface StreamOptions {
  /** The guarded HTTP client: every playlist, key, init section and segment goes through it. */
  http: Got;
  tools: MediaTools;
  limits: TransferLimits;
  /** Segments fetched at once. */
  connections: number;
  /** Longest the final remux may take. */
  remuxTimeoutMs?: number;
}

/** A playlist or manifest bigger than this is not one (a playlist of a 10-hour show is ~1 MB). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Longest a playlist may take to arrive. */
const MANIFEST_TIMEOUT_MS = 30_000;

/** What a started stream download keeps in its folder, so a retry or restart fetches only what it lacks. */
interface StreamPlan {
  version: 1;
  tracks: StreamTrack[];
  durationSeconds: number;
  /** The variant's bandwidth times the duration, when both are known. */
  estimatedBytes: number | null;
}

/** The folder of a stream's pieces inside the item's folder; no downloaded name starts with a dot. */
const WORK_DIR = ".stream";

/**
 * The bot fetches a stream itself, through its guarded HTTP client: the playlists (parsed by
 * m3u8-parser / mpd-parser, never regular expressions), the best variant that fits `maxBytes`,
 * and every init section, key and segment, several at once. Each piece is stored as it
 * completes, so a retry or a restart fetches only the pieces it lacks. ffmpeg then only joins
 * local files into an MP4 (a forced demuxer, the file protocol only): it never touches the
 * network, whatever the playlist says. Live streams and DRM are refused with a one-line reason.
 */
export function createStreamDownloader(options: StreamOptions): StreamDownloader {
  return async (ctx, url) => {
    const { signal } = ctx;
    const work = path.join(ctx.dir, WORK_DIR);
    await fs.mkdir(work, { recursive: true });
    let plan = await loadPlan(work);
    if (!plan) {
      ctx.progress({ bytesDone: 0, totalBytes: null, note: "reading the stream's playlist" });
      plan = await makePlan(options.http, url, ctx);
      await savePlan(work, plan);
    }
    let joined = await loadJoined(work);
    if (!joined) {
      const bytes = await fetchPieces(options, ctx, work, plan);
      ctx.progress({ bytesDone: bytes, totalBytes: bytes, note: "joining the stream's segments" });
      await ctx.ensureDiskRoom(bytes);
      joined = [];
      for (const [t, track] of plan.tracks.entries()) joined.push(await joinTrack(work, t, track, signal));
      // Recorded before the pieces go: a stop from here on (during the remux) resumes from the
      // joined tracks instead of fetching the stream again.
      await writeAtomically(path.join(work, "joined.json"), JSON.stringify(joined));
      await forgetPieces(work, plan);
    }
    const file = path.join(ctx.dir, `${safeFileName(path.basename(ctx.item.title, path.extname(ctx.item.title)) || "stream")}.mp4`);
    let joinedBytes = 0;
    for (const track of joined) joinedBytes += (await fs.stat(track.file)).size;
    ctx.progress({ bytesDone: joinedBytes, totalBytes: joinedBytes, note: "joining the stream's segments" });
    await ctx.ensureDiskRoom(joinedBytes);
    await remux(options, joined, file, joinedBytes, ctx);
    const { size } = await fs.stat(file);
    if (size >= ctx.maxBytes) {
      await fs.rm(file, { force: true });
      throw tooLarge(ctx.maxBytes);
    }
    await fs.rm(work, { recursive: true, force: true });
    await ctx.checkpoint({ sizeBytes: size, title: path.basename(file) });
    return { kind: "files", files: [{ path: file, name: path.basename(file), size }] };
  };
}

function tooLarge(limit: number): DownloadError {
  return new DownloadError("TOO_LARGE", `the stream is over ${limit} bytes`, {
    userMessage: `even the stream's smallest variant is larger than this bot's limit of ${formatBytes(limit)}.`,
  });
}

// --- the plan ---------------------------------------------------------------------------------------

async function loadPlan(work: string): Promise<StreamPlan | undefined> {
  try {
    const plan = JSON.parse(await fs.readFile(path.join(work, "plan.json"), "utf8")) as StreamPlan;
    return plan.version === 1 && Array.isArray(plan.tracks) ? plan : undefined;
  } catch {
    return undefined;
  }
}

async function savePlan(work: string, plan: StreamPlan): Promise<void> {
  await writeAtomically(path.join(work, "plan.json"), JSON.stringify(plan));
}

/** The joined tracks of a stream whose pieces are gone, when every one is still on disk. */
async function loadJoined(work: string): Promise<Array<{ file: string; format: string }> | undefined> {
  try {
    const joined = JSON.parse(await fs.readFile(path.join(work, "joined.json"), "utf8")) as Array<{ file: string; format: string }>;
    for (const track of joined) {
      // Only names this code wrote: the folder is the bot's own, but a record is checked anyway.
      if (path.dirname(track.file) !== work || !/^track-\d+\.joined$/.test(path.basename(track.file))) return undefined;
      await fs.access(track.file);
    }
    return joined;
  } catch {
    return undefined;
  }
}

/** Written whole or not at all, and on the disk before it is renamed into place. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = `${file}.new`;
  const handle = await fs.open(temp, "w");
  try {
    await handle.writeFile(text);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, file);
}

/** Reads the manifest, picks the variant and reads its playlists: the pieces to fetch. */
async function makePlan(http: Got, url: string, ctx: SourceContext): Promise<StreamPlan> {
  const top = await readManifest(http, url, ctx.signal);
  if (top.kind === "track") return planOf([top.track], top.durationSeconds, null);
  if (top.variants.length === 0) throw new DownloadError("NO_MEDIA", "stream: no variants", { userMessage: "the stream's playlist lists nothing to download." });
  // HLS master playlists give no duration: the first variant's playlist does.
  let duration = top.durationSeconds;
  const first = top.variants[0]!;
  const firstRead = !first.track && first.playlistUrl ? await readTrack(http, first.playlistUrl, ctx.signal) : undefined;
  if (duration <= 0 && firstRead) duration = firstRead.durationSeconds;
  const variant = pickVariant(top.variants, duration, ctx.maxBytes);
  ctx.logger.info({ bandwidth: variant.bandwidth, height: variant.height, variants: top.variants.length }, "stream variant chosen");
  const video = variant.track ?? (variant === first && firstRead ? firstRead.track : (await readTrack(http, variant.playlistUrl!, ctx.signal)).track);
  const tracks = [video];
  if (variant.audio) tracks.push(variant.audio.track ?? (await readTrack(http, variant.audio.playlistUrl!, ctx.signal)).track);
  const estimate = variant.bandwidth > 0 && duration > 0 ? Math.round((variant.bandwidth / 8) * duration) : null;
  return planOf(tracks, duration, estimate);
}

function planOf(tracks: StreamTrack[], durationSeconds: number, estimatedBytes: number | null): StreamPlan {
  const pieces = tracks.reduce((n, t) => n + t.pieces.length, 0);
  if (pieces > MAX_PIECES) {
    throw new DownloadError("NO_MEDIA", `stream: ${pieces} segments`, { userMessage: `the stream lists ${pieces} segments, more than the bot fetches (${MAX_PIECES}).` });
  }
  return { version: 1, tracks, durationSeconds, estimatedBytes };
}

async function readTrack(http: Got, url: string, signal: AbortSignal): Promise<{ track: StreamTrack; durationSeconds: number }> {
  const parsed = await readManifest(http, url, signal);
  if (parsed.kind !== "track") {
    throw new DownloadError("NO_MEDIA", "stream: a variant playlist that lists variants", { userMessage: "the stream's playlists are not laid out as HLS requires." });
  }
  return parsed;
}

async function readManifest(http: Got, url: string, signal: AbortSignal): Promise<ParsedManifest> {
  const { text, contentType, finalUrl } = await fetchText(http, url, signal);
  // Relative URIs resolve against where the playlist was finally read from (after redirects).
  if (manifestKind(contentType, finalUrl, text) === "hls") return parseHls(text, finalUrl);
  checkDash(text, finalUrl);
  return readDash((await parseMpdIsolated(text, finalUrl)) as ParsedMpd, finalUrl);
}

/** A playlist's text, at most MAX_MANIFEST_BYTES, within MANIFEST_TIMEOUT_MS. */
/** A playlist's text, at most MAX_MANIFEST_BYTES, within MANIFEST_TIMEOUT_MS. */
async function fetchText(http: Got, url: string, signal: AbortSignal): Promise<{ text: string; contentType: string; finalUrl: string }> {
  const got = await fetchSmall(http, url, signal, MAX_MANIFEST_BYTES, {
    tooLarge: "the stream's playlist is too large to be one.",
    timedOut: "the stream's playlist did not arrive in time.",
  });
  return { text: got.body.toString("utf8"), contentType: got.contentType, finalUrl: got.finalUrl };
}

/**
 * A small body (a playlist, a key) read whole, but never more than `maxBytes` of it and never for
 * longer than MANIFEST_TIMEOUT_MS: whoever serves it cannot make the bot hold more.
 */
async function fetchSmall(
  http: Got,
  url: string,
  signal: AbortSignal,
  maxBytes: number,
  say: { tooLarge: string; timedOut: string },
): Promise<{ body: Buffer; contentType: string; finalUrl: string }> {
  if (signal.aborted) throw stopReason(signal);
  const timeout = AbortSignal.timeout(MANIFEST_TIMEOUT_MS);
  const stream = http.stream(url, { signal: AbortSignal.any([signal, timeout]), headers: { "accept-encoding": "identity" } });
  stream.on("error", () => {});
  try {
    const response = await new Promise<Response>((resolve, reject) => {
      stream.once("response", resolve);
      stream.once("error", reject);
    });
    if (response.statusCode !== 200) throw httpStatusError(response.statusCode, url);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw new DownloadError("NO_MEDIA", `stream: ${url} is over ${maxBytes} bytes`, { userMessage: say.tooLarge });
      chunks.push(chunk);
    }
    return { body: Buffer.concat(chunks), contentType: responseHeader(response, "content-type") ?? "", finalUrl: response.url || url };
  } catch (error) {
    if (signal.aborted) throw stopReason(signal);
    if (timeout.aborted) throw new DownloadError("NETWORK", `stream: ${url} timed out`, { retryable: true, userMessage: say.timedOut });
    throw error instanceof AppError ? error : classifyHttpError(error, url);
  } finally {
    stream.destroy();
  }
}

// --- the pieces -----------------------------------------------------------------------------------

const pieceFile = (work: string, track: number, index: number) => path.join(work, `${track}-${index}.bin`);

/**
 * Fetches every piece not on disk yet, `connections` at once. A piece goes to a temporary name
 * and is renamed once whole, so a piece file on disk is always complete. One watch covers them
 * all: no byte for the stall time, or too few over the speed window, fails the attempt.
 */
async function fetchPieces(options: StreamOptions, ctx: SourceContext, work: string, plan: StreamPlan): Promise<number> {
  const { signal } = ctx;
  const all = plan.tracks.flatMap((track, t) => track.pieces.map((piece, i) => ({ piece, file: pieceFile(work, t, i) })));
  let done = 0;
  let have = 0;
  const missing: typeof all = [];
  for (const entry of all) {
    const size = await fs.stat(entry.file).then((s) => s.size, () => -1);
    // A plain byte range has a size to check; a piece of another size is fetched again.
    const expected = entry.piece.range && !entry.piece.key ? entry.piece.range.length : undefined;
    if (size >= 0 && (expected === undefined || size === expected)) {
      done += size;
      have++;
    } else missing.push(entry);
  }
  if (done > ctx.maxBytes) throw tooLarge(ctx.maxBytes);
  if (missing.length && have) ctx.logger.info({ have, missing: missing.length }, "resuming a stream from the segments on disk");
  const total = plan.estimatedBytes;
  const report = () => ctx.progress({ bytesDone: done, totalBytes: total, note: `${have} of ${all.length} segments` });
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
    if (done > ctx.maxBytes) throw tooLarge(ctx.maxBytes);
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
      missing.map(({ piece, file }) =>
        limit(async () => {
          if (watch.signal.aborted) return;
          try {
            const key = piece.key ? await keyOf(options.http, keys, piece.key.url, watch.signal) : undefined;
            await fetchPiece(options.http, piece, file, watch.signal, onBytes, key);
            have++;
            report();
          } catch (error) {
            failure ??= error;
            watch.abort();
          }
        }),
      ),
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
  const notAKey = "the stream's decryption key is not a valid AES-128 key.";
  const { body } = await fetchSmall(http, url, signal, 16, { tooLarge: notAKey, timedOut: "the stream's decryption key did not arrive in time." });
  if (body.length !== 16) throw new DownloadError("NO_MEDIA", `stream: key of ${body.length} bytes`, { userMessage: notAKey });
  return body;
}

/** One piece (or its byte range) to `file`, decrypted when it has a key; renamed into place once whole. */
async function fetchPiece(
  http: Got,
  piece: StreamPiece,
  file: string,
  signal: AbortSignal,
  onBytes: (n: number, kept?: boolean) => Promise<void>,
  key?: Buffer,
): Promise<void> {
  const headers: Record<string, string> = { "accept-encoding": "identity" };
  if (piece.range) headers.range = `bytes=${piece.range.offset}-${piece.range.offset + piece.range.length - 1}`;
  const stream = http.stream(piece.url, { headers, signal });
  stream.on("error", () => {});
  const temp = `${file}.part`;
  try {
    const response = await new Promise<Response>((resolve, reject) => {
      stream.once("response", resolve);
      stream.once("error", reject);
    });
    const status = response.statusCode;
    if (status !== 200 && status !== 206) throw httpStatusError(status, piece.url);
    if (piece.range && status === 206) {
      const start = /^bytes (\d+)-/.exec(responseHeader(response, "content-range") ?? "")?.[1];
      if (Number(start) !== piece.range.offset) {
        throw new DownloadError("HTTP_TRANSIENT", "a segment's server answered another range than asked", { retryable: true, userMessage: "the stream's server sent the wrong part of a segment." });
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
      if (piece.range && left > 0) throw new DownloadError("NETWORK", "a segment ended early", { retryable: true, userMessage: "a segment of the stream ended early." });
      if (decipher) {
        try {
          await out.write(decipher.final());
        } catch (error) {
          throw new DownloadError("NO_MEDIA", "stream: a segment did not decrypt", {
            cause: error,
            userMessage: "a segment of the stream could not be decrypted with its key.",
          });
        }
      }
    } finally {
      taken.destroy();
      await out.close();
    }
    // On the disk before it counts as a piece: a power cut must not leave an empty one in place.
    const handle = await fs.open(temp, "r+");
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true }).catch(() => {});
    if (error instanceof AppError) throw error;
    throw classifyHttpError(error, piece.url);
  } finally {
    stream.destroy();
  }
}

// --- joining and remuxing ---------------------------------------------------------------------------

/**
 * A track's pieces, in order, as one file: MPEG-TS segments and fragmented-MP4 init + segments
 * join byte for byte. Each piece goes once it is copied, so the disk holds the track once.
 */
async function joinTrack(work: string, t: number, track: StreamTrack, signal: AbortSignal): Promise<{ file: string; format: string }> {
  const file = path.join(work, `track-${t}.joined`);
  const out = new FileSink(file, { flags: "w" });
  try {
    for (let i = 0; i < track.pieces.length; i++) {
      if (signal.aborted) throw stopReason(signal);
      for await (const chunk of createReadStream(pieceFile(work, t, i), { highWaterMark: 1024 * 1024 })) await out.write(chunk as Buffer);
    }
  } finally {
    await out.close();
  }
  const head = Buffer.alloc(400);
  const handle = await fs.open(file, "r");
  let read = 0;
  try {
    ({ bytesRead: read } = await handle.read(head, 0, head.length, 0));
  } finally {
    await handle.close();
  }
  const format = sniffContainer(head.subarray(0, read));
  if (!format) {
    throw new DownloadError("NO_MEDIA", "stream: segments of an unknown format", { userMessage: "the stream's segments are not in a format the bot knows (MPEG-TS or MP4)." });
  }
  return { file, format };
}

async function forgetPieces(work: string, plan: StreamPlan): Promise<void> {
  await fs.rm(path.join(work, "plan.json"), { force: true });
  for (const [t, track] of plan.tracks.entries()) {
    for (let i = 0; i < track.pieces.length; i++) await fs.rm(pieceFile(work, t, i), { force: true });
  }
}

/** ffmpeg copies the joined tracks into one MP4: local files, forced demuxers, no re-encoding. */
async function remux(options: StreamOptions, tracks: Array<{ file: string; format: string }>, file: string, inputBytes: number, ctx: SourceContext): Promise<void> {
  try {
    await runTool(
      options.tools.ffmpeg,
      joinTracksArgs(tracks, file, ctx.maxBytes),
      {
        signal: ctx.signal,
        timeoutMs: options.remuxTimeoutMs ?? 30 * 60_000,
        // A copy of local files always moves, but +faststart rewrites the whole file at the end
        // without a progress line: the watchdog allows for that pass on a slow disk.
        ...progressWatch(inputBytes),
        processes: options.tools.processes,
      },
    );
  } catch (error) {
    await fs.rm(file, { force: true });
    if (ctx.signal.aborted) throw stopReason(ctx.signal);
    throw new DownloadError("NO_MEDIA", `stream: remux failed: ${toolErrorDetail(error)}`, {
      cause: error,
      userMessage: "the stream's segments could not be joined into a video (details are in the bot's log).",
    });
  }
}

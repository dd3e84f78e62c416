import { promises as fs } from "node:fs";
import { PassThrough } from "node:stream";
import type { Got } from "got";
import { AppError, DownloadError, stopReason } from "../errors.ts";
import { classifyHttpError, httpStatusError } from "../net/http-client.ts";
import { FileSink } from "../storage/file-sink.ts";
import { type MinSpeed, SpeedFloor, checkIntervalMs, stalledError, tooSlowError } from "../net/transfer-speed.ts";
import { responseHeader, totalFromContentRange, responseOf } from "./http-probe.ts";
import { bytesDone, takeoverSplit } from "./segments.ts";
import type { Segment } from "../db/segment-repository.ts";

/** How much is written between two looks at the free disk space. */
export const DISK_CHECK_BYTES = 4 * 1024 * 1024;

/** What a body may hold between the socket and the disk (the disk is usually the slower). */
const BODY_BUFFER_BYTES = 256 * 1024;

/** How often the parts' progress is written to the database while they run. */
const SAVE_INTERVAL_MS = 1000;

/** A part's connection that breaks after making progress is opened again this many times. */
const RECONNECTS = 3;


/** What a transfer must keep up: some byte every `stallTimeoutMs`, and on average `minSpeed` over its window. */
export interface TransferLimits {
  stallTimeoutMs: number;
  /** Off when absent or 0 bytes a second. */
  minSpeed?: MinSpeed;
}

/**
 * An attempt's own abort switch: it follows the item's signal (cancel, pause, shutdown), trips
 * when no byte came for `stallTimeoutMs` (call `arm(n)` on every chunk of n bytes) and when the
 * average speed over the window stays under `minSpeed`: a server that sends a byte now and then
 * never stalls, but cannot hold the queue either. `dispose()` when done.
 */
export function watchTransfer(signal: AbortSignal, limits: TransferLimits) {
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  let stalled = false;
  let slow = false;
  let watchdog: NodeJS.Timeout | undefined;
  let received = 0;
  const minSpeed = limits.minSpeed;
  const floor = minSpeed && minSpeed.bytesPerSec > 0 ? new SpeedFloor(minSpeed) : undefined;
  const speedCheck = floor
    ? setInterval(() => {
        if (floor.check(Date.now(), received)) {
          slow = true;
          controller.abort();
        }
      }, checkIntervalMs(minSpeed!))
    : undefined;
  return {
    signal: controller.signal,
    /** The error that explains why the switch tripped on its own (stall or speed), if it did. */
    failure(): DownloadError | undefined {
      if (stalled) return stalledError(limits.stallTimeoutMs);
      if (slow && minSpeed) return tooSlowError(minSpeed);
      return undefined;
    },
    abort: () => controller.abort(),
    arm: (bytes = 0) => {
      received += bytes;
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        stalled = true;
        controller.abort();
      }, limits.stallTimeoutMs);
    },
    dispose: () => {
      clearTimeout(watchdog);
      clearInterval(speedCheck);
      signal.removeEventListener("abort", onAbort);
    },
  };
}

/** A response body taken over from got: `broken()` tells whether the connection failed under it. */
export interface TakenBody {
  body: AsyncIterable<Buffer>;
  broken(): unknown;
  destroy(): void;
}

/**
 * Takes the body from got's stream at once, before anything else awaits: got drops what it
 * buffered when the connection breaks, and a fast server can send everything (and hang up) in
 * the meantime. Bytes handed over here are kept whatever happens next.
 */
export function takeBody(stream: NodeJS.ReadableStream & { destroy(): void }): TakenBody {
  const body = new PassThrough({ highWaterMark: BODY_BUFFER_BYTES });
  let broken: unknown;
  stream.once("error", (error) => {
    broken = error;
    body.end();
  });
  stream.pipe(body);
  return {
    body,
    broken: () => broken,
    destroy: () => {
      body.destroy();
      stream.destroy();
    },
  };
}

/** The server would not give a part (it sent the whole file, or the file changed): start over on one connection. */
export const RANGE_REFUSED = Symbol("range refused");

export interface RangedDownloadOptions {
  http: Got;
  url: string;
  file: string;
  total: number;
  /** Strong ETag or Last-Modified: every part asks with If-Range, so a changed file is never stitched. */
  validator: string;
  /**
   * The parts, in order; their `done` is updated as bytes are written, and a part taken over is
   * cut in place here, its second half inserted right after it (so a reader of this array sees
   * the coverage as it grows, and a save is a plan that covers the file).
   */
  segments: Segment[];
  /** How many connections at once; there may be more parts (a resumed plan that was taken over). */
  connections: number;
  /** The response already running from byte 0 (the request that found the file): it fetches part 0. */
  first?: TakenBody;
  /** A fresh file (truncated) or one to continue (written in place). */
  fresh: boolean;
  signal: AbortSignal;
  limits: TransferLimits;
  /** Stores the parts' progress; called every second and once at the end, whatever the outcome. */
  save(segments: Segment[]): Promise<void>;
  progress(bytesDone: number): void;
  ensureDiskRoom(): Promise<void>;
}

/**
 * Fetches the unfinished parts over `connections` connections at once, each writing its bytes at
 * its own place in one file. A connection takes the next part nobody runs; once none is left it
 * takes over half of the slowest part's rest (aria2's way), so one slow connection does not hold
 * the file's tail alone. The first failure stops the others; what each got is saved, so the next
 * attempt resumes every part from its own bytes. Resolves once the file is whole, or with
 * RANGE_REFUSED when the server will not serve parts of this file.
 */
export async function downloadRanges(opts: RangedDownloadOptions): Promise<void | typeof RANGE_REFUSED> {
  const { segments, signal } = opts;
  if (signal.aborted) throw stopReason(signal);
  // Before anything below needs undoing: truncating can fail (a full disk).
  if (opts.fresh) await (await fs.open(opts.file, "w")).close();
  const watch = watchTransfer(signal, opts.limits);
  const { arm } = watch;
  // The first part's body comes from a request made before this switch: stop it with the rest.
  watch.signal.addEventListener("abort", () => opts.first?.destroy(), { once: true });

  let saving: Promise<void> | undefined;
  const saveNow = () => {
    saving ??= opts.save(segments.map((s) => ({ ...s }))).finally(() => (saving = undefined));
    return saving;
  };
  const saver = setInterval(() => void saveNow().catch(() => {}), SAVE_INTERVAL_MS);

  let done = bytesDone(segments);
  let unchecked = 0;
  let failure: unknown;
  let refused = false;
  let firstUnused = opts.first;
  /** The parts a connection is on, and how many bytes from `start` each has queued to disk. */
  const queuedOf = new Map<Segment, number>();

  /** Opens a connection for the rest of a part. */
  async function openRange(seg: Segment): Promise<TakenBody> {
    const from = seg.start + seg.done;
    const stream = opts.http.stream(opts.url, {
      headers: { "accept-encoding": "identity", range: `bytes=${from}-${seg.end - 1}`, "if-range": opts.validator },
      signal: watch.signal,
    });
    stream.on("error", () => {});
    const response = await responseOf(stream);
    const status = response.statusCode;
    const range = responseHeader(response, "content-range")?.match(/^bytes (\d+)-(\d+)\//);
    // 200: the server ignored the range, or If-Range saw a changed file. 416: the file shrank.
    if (status === 200 || status === 416 || (status === 206 && (!range || Number(range[1]) !== from || totalFromContentRange(responseHeader(response, "content-range") ?? undefined) !== opts.total))) {
      stream.destroy();
      refused = true;
      throw RANGE_REFUSED;
    }
    if (status !== 206) {
      stream.destroy();
      throw httpStatusError(status, opts.url);
    }
    return takeBody(stream);
  }

  /**
   * Writes a part's bytes in place until the part is whole or its body ends. The part's `done`
   * grows as the disk takes its bytes, so a save never claims more than the file holds.
   */
  async function fill(seg: Segment, taken: TakenBody): Promise<void> {
    const base = seg.done;
    const out = new FileSink(opts.file, { flags: "r+", start: seg.start + base });
    const onDisk = () => {
      const now = base + out.written;
      done += now - seg.done;
      seg.done = now;
    };
    let queued = base;
    queuedOf.set(seg, queued);
    try {
      for await (const chunk of taken.body) {
        arm(chunk.length);
        // `seg.end` is read per chunk: a take-over may have moved it closer.
        const take = Math.min(chunk.length, seg.end - seg.start - queued);
        // Counted before the write is awaited, so a take-over never cuts below bytes on their way.
        queued += take;
        queuedOf.set(seg, queued);
        if (take > 0) await out.write(take === chunk.length ? chunk : chunk.subarray(0, take));
        unchecked += take;
        if (unchecked >= DISK_CHECK_BYTES) {
          unchecked = 0;
          await opts.ensureDiskRoom();
        }
        onDisk();
        opts.progress(done);
        if (queued === seg.end - seg.start) break;
      }
    } finally {
      taken.destroy();
      try {
        await out.close();
      } finally {
        onDisk();
      }
    }
    opts.progress(done);
    if (seg.done === seg.end - seg.start) return;
    const broken = taken.broken();
    if (broken !== undefined) throw broken;
    throw new DownloadError("NETWORK", `a part ended at ${seg.start + seg.done} of ${seg.end} bytes`, { retryable: true, reason: { kind: "partCut", at: seg.start + seg.done, end: seg.end } });
  }

  async function run(seg: Segment): Promise<void> {
    let reconnects = 0;
    while (seg.done < seg.end - seg.start && !watch.signal.aborted) {
      const before = seg.done;
      try {
        let taken: TakenBody | undefined;
        if (seg.start === 0) [taken, firstUnused] = [firstUnused, undefined];
        taken ??= await openRange(seg);
        await fill(seg, taken);
      } catch (error) {
        if (error === RANGE_REFUSED || watch.signal.aborted) throw error;
        const known = error instanceof AppError ? error : classifyHttpError(error, opts.url);
        // A broken connection that was making progress is opened again; anything else ends the attempt.
        if (known.retryable && seg.done > before && reconnects < RECONNECTS) {
          reconnects++;
          continue;
        }
        throw known;
      }
    }
  }

  /** The next part for a free connection: one nobody runs, else half of the slowest one's rest. */
  function nextPart(): Segment | undefined {
    const idle = segments.find((s) => s.done < s.end - s.start && !queuedOf.has(s));
    if (idle) return idle;
    const running = [...queuedOf].map(([seg, queued]) => ({ seg, start: seg.start, end: seg.end, queued }));
    const split = takeoverSplit(running);
    if (!split) return undefined;
    const slow = running[split.index]!.seg;
    const rest: Segment = { start: split.at, end: slow.end, done: 0 };
    // The slow connection stops at its new end (it asked for more; like aria2, the rest is dropped).
    slow.end = split.at;
    segments.splice(segments.indexOf(slow) + 1, 0, rest);
    return rest;
  }

  async function connection(): Promise<void> {
    for (let seg = nextPart(); seg && !watch.signal.aborted; seg = nextPart()) {
      queuedOf.set(seg, seg.done);
      try {
        await run(seg);
      } finally {
        queuedOf.delete(seg);
      }
    }
  }

  try {
    arm();
    opts.progress(done);
    // No more connections than parts to start with: a take-over is for one that finished early.
    const count = Math.min(opts.connections, segments.filter((s) => s.done < s.end - s.start).length);
    await Promise.all(
      Array.from({ length: count }, () =>
        connection().catch((error: unknown) => {
          failure ??= error;
          watch.abort();
        }),
      ),
    );
  } finally {
    watch.dispose();
    clearInterval(saver);
    firstUnused?.destroy();
    await saving?.catch(() => {});
    await saveNow();
  }
  if (signal.aborted) throw stopReason(signal);
  if (refused) return RANGE_REFUSED;
  const tripped = watch.failure();
  if (tripped) throw tripped;
  if (failure !== undefined) throw failure instanceof AppError ? failure : classifyHttpError(failure, opts.url);
  if (done !== opts.total) throw new DownloadError("NETWORK", `the parts hold ${done} of ${opts.total} bytes`, { retryable: true, reason: { kind: "partsIncomplete", done, total: opts.total } });
}

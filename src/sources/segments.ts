import type { Segment } from "../db/segment-repository.ts";

/**
 * Splitting one file into parts fetched over several connections at once (as aria2c -x/-s does):
 * the pure planning, kept apart from the I/O in ranged-download.ts.
 */

/** Below this a file gains too little from more connections to be worth the extra requests. */
export const MIN_SPLIT_BYTES = 20 * 1024 * 1024;

/** Parts never get smaller than this, so a 21 MB file is not cut into slivers. */
const MIN_SEGMENT_BYTES = 5 * 1024 * 1024;

/** Equal parts of `total` bytes, one per connection (fewer for a small file), none started. */
export function planSegments(total: number, connections: number): Segment[] {
  const count = Math.max(1, Math.min(connections, Math.floor(total / MIN_SEGMENT_BYTES)));
  const size = Math.ceil(total / count);
  const segments: Segment[] = [];
  for (let start = 0; start < total; start += size) segments.push({ start, end: Math.min(total, start + size), done: 0 });
  return segments;
}

/** Whether a download is worth splitting, from the first response. */
export function canSplit(opts: {
  connections: number;
  total: number | null;
  acceptRanges: string | null;
  /** The strong ETag or Last-Modified the parts' If-Range will carry. */
  validator: string | null;
}): boolean {
  return (
    opts.connections > 1 &&
    opts.total !== null &&
    opts.total >= MIN_SPLIT_BYTES &&
    opts.validator !== null &&
    /\bbytes\b/i.test(opts.acceptRanges ?? "")
  );
}

/**
 * The least a free connection takes over from a running part (and the least that part keeps).
 * A take-over costs a new request (a round trip or two, a TLS handshake to a far server) and
 * drops what the slow connection had already on its way past its new end (a few hundred KB of
 * buffers); a connection slow enough to be left behind moves a few MB/s at most, so 2 MB is a
 * second or more of its time, well over that cost. aria2's min-split-size (20 MB) would never
 * split here: the parts of the files split at all start at 5 MB.
 */
export const MIN_TAKEOVER_BYTES = 2 * 1024 * 1024;

/** A part being fetched: its bytes [start, end) and how many from `start` its connection has queued to disk. */
export interface RunningPart {
  start: number;
  end: number;
  queued: number;
}

/**
 * What a connection with no part left to start takes over (as aria2 does): the second half of
 * what the running part with the most left has not queued yet. That part ends at `at`; the
 * taker fetches [at, its old end). Undefined when either half would be under `minBytes`.
 */
export function takeoverSplit(parts: readonly RunningPart[], minBytes = MIN_TAKEOVER_BYTES): { index: number; at: number } | undefined {
  let index = -1;
  let most = 0;
  parts.forEach((p, i) => {
    const left = p.end - p.start - p.queued;
    if (left > most) {
      most = left;
      index = i;
    }
  });
  if (index < 0 || most < 2 * minBytes) return undefined;
  const part = parts[index]!;
  return { index, at: part.start + part.queued + Math.floor(most / 2) };
}

export function bytesDone(segments: readonly Segment[]): number {
  return segments.reduce((sum, s) => sum + s.done, 0);
}

/** A stored plan is usable only if it covers [0, total) exactly, in order, with sane progress. */
export function coversFile(segments: readonly Segment[], total: number | null): boolean {
  if (segments.length === 0 || total === null) return false;
  let at = 0;
  for (const s of segments) {
    if (s.start !== at || s.end <= s.start || s.done < 0 || s.done > s.end - s.start) return false;
    at = s.end;
  }
  return at === total;
}

/**
 * How many of bytes [from, to) of the file are not on disk yet: each part has written `done`
 * bytes from its start (the parts cover the file in order). Pure.
 */
export function bytesMissing(segments: readonly Segment[], from: number, to: number): number {
  let missing = 0;
  for (const s of segments) {
    if (s.end <= from || s.start >= to) continue;
    missing += Math.max(0, Math.min(to, s.end) - Math.max(from, s.start + s.done));
  }
  return missing;
}

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

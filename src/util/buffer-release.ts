/**
 * Lets V8 free the Buffers a transfer is done with, every few MB instead of every few tens.
 *
 * A dead Buffer's memory goes back only when a garbage collection finds it, and V8 starts its
 * young-generation collections by JavaScript allocation, not by Buffer bytes. A download makes
 * little JavaScript garbage per 64 kB chunk, so on Node 24 about 60 MB of dead chunks piled up
 * between two collections: most of the peak RSS above idle. Counting the bytes that pass and
 * running a young collection (about 0.4 ms: almost nothing in it is alive) every RELEASE_BYTES
 * keeps that pile small: 4 MB gave a peak of 124 MB moving 1 GiB, 8 MB 133, 16 MB 155.
 * Needs `node --expose-gc` (scripts/node-flags.mjs); where `gc` is absent (the tests, tsx) this
 * only counts.
 */
const RELEASE_BYTES = 4 * 1024 * 1024;

type GcFunction = (options: { type: "minor" | "major"; execution: "sync" }) => void;
const gc = (globalThis as { gc?: GcFunction }).gc;

let passed = 0;
/** Bytes moved since the last full collection, and how many make one worth its pause. */
let movedSinceFull = 0;
const FULL_RELEASE_BYTES = 64 * 1024 * 1024;

/** Counts `bytes` moved through short-lived Buffers (a socket's chunks, a file's reads). */
export function buffersPassed(bytes: number): void {
  passed += bytes;
  movedSinceFull += bytes;
  if (passed < RELEASE_BYTES) return;
  passed = 0;
  gc?.({ type: "minor", execution: "sync" });
}

/**
 * After an item: one full collection. The young collections above promote the chunks that were
 * in flight at that moment, and nothing else collects the old generation while the bot moves
 * Buffers and little else (their memory counts in the global limit, not the old space's): each
 * GiB item left about 10 MB of dead chunks there, so the RSS of a bot that ran a few big items
 * kept climbing (118, 140, 156, 171 MB after four split items of 1 GiB, then stayed).
 */
export function releaseAfterItem(): void {
  // Only after a big transfer: a small item leaves little behind, and the full collection holds
  // the event loop for some 20-40 ms (a `/download` arriving meanwhile waits for it).
  if (movedSinceFull < FULL_RELEASE_BYTES) return;
  movedSinceFull = 0;
  passed = 0;
  gc?.({ type: "major", execution: "sync" });
}

#!/usr/bin/env node
/**
 * The V8 flags the bot runs with (`npm start` prints them into its command line; the bench and
 * the Dockerfile use the same). Why each one: BENCHMARKS.md.
 *
 * - a 1 MB young generation instead of 16 MB: about 25 MB less at peak (2 MB: 2 MB more idle and
 *   at peak on Node 24, no faster);
 * - an old generation allowed 64 MB before its first full collection: otherwise a transfer's
 *   promoted buffer wrappers set one off every few MB (half the speed on Node 20);
 * - Node 22 and later (V8 12+): the Buffers' memory counted in the global heap limit, so their
 *   backing stores do not set off a full collection every 64 MB (0.6 s of CPU per GB moved
 *   instead of 2.5 s). Node 20's V8 does not know this flag and refuses to start with it;
 * - `gc` exposed, so a transfer can run a young collection every few MB and give its dead
 *   Buffers back (src/util/buffer-release.ts), and those Buffers freed during that collection
 *   rather than by a background task that may run late: about 45 MB less at peak on Node 24;
 * - young collections on the main thread alone: with a 1 MB young generation and almost nothing
 *   alive in it, handing the work to helper threads costs more than it saves (0.4 ms per
 *   collection instead of 0.6 ms, a few hundred of them per GB).
 */
import { fileURLToPath } from "node:url";

export function nodeFlags(version = process.versions.node) {
  const flags = ["--max-semi-space-size=1", "--initial-old-space-size=64", "--expose-gc", "--no-concurrent-array-buffer-sweeping", "--no-parallel-scavenge"];
  if (Number(version.split(".")[0]) >= 22) flags.push("--external-memory-accounted-in-global-limit");
  return flags;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(nodeFlags().join(" "));

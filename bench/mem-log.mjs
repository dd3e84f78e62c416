/**
 * Debug only: where the bot's memory is while it works. Load it into the bot with
 *   BENCH_NODE_FLAGS=--import=./bench/mem-log.mjs npx tsx bench/one-file.ts
 * Every 100 ms it appends process.memoryUsage() (MB) to /tmp/memlog-<pid>.jsonl, and at exit the
 * highest of each field, so a peak can be split into heap, external and the rest (code, native).
 */
import { appendFileSync } from "node:fs";

const file = `/tmp/memlog-${process.pid}.jsonl`;
const peak = {};
const mb = (n) => Math.round((n / 1048576) * 10) / 10;
setInterval(() => {
  const u = process.memoryUsage();
  const row = { t: Date.now(), rss: mb(u.rss), heapTotal: mb(u.heapTotal), heapUsed: mb(u.heapUsed), external: mb(u.external), arrayBuffers: mb(u.arrayBuffers) };
  for (const [k, v] of Object.entries(row)) if (k !== "t") peak[k] = Math.max(peak[k] ?? 0, v);
  appendFileSync(file, `${JSON.stringify(row)}\n`);
}, 100).unref();
process.on("exit", () => appendFileSync(file, `${JSON.stringify({ peak })}\n`));

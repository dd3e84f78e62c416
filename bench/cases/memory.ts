/**
 * The bot's memory: peak RSS while it moves one big file (one connection, four, and split into
 * byte parts over the upload limit, which go up as albums), and idle RSS once the queue is empty
 * after a small download. Each with a bot process of its own, so one's leftovers are not
 * another's. Targets: peak < 128 MB, idle < 80 MB (on Node 24; BENCHMARKS.md, "Memory on Node 24").
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import { BotProcess } from "../bot-process.ts";
import { type BenchContext, botDelivers, dropUploads, mbps } from "../context.ts";
import { MB, settle } from "../peers.ts";

const PEAK_LIMIT_MB = 128;
const IDLE_LIMIT_MB = 80;
/** Telegram's cloud limit: a 1 GB file goes up as 21 parts, in albums of up to 10. */
const SPLIT_LIMIT_BYTES = 50 * MB;

export async function memoryCase(ctx: BenchContext): Promise<void> {
  const { api, nginx, results, root } = ctx;
  // The bench's big file (BENCH_MB), written by bench/run.ts.
  const size = (await stat(path.join(root, "big.bin"))).size;
  const sizeMb = Math.round(size / MB);
  const runs: Array<{ name: string; what: string; config: Record<string, unknown>; parts: number }> = [
    { name: "mem-1", what: `${sizeMb} MB, 1 connection`, config: { connectionsPerDownload: 1 }, parts: 1 },
    { name: "mem-4", what: `${sizeMb} MB, 4 connections`, config: { connectionsPerDownload: 4 }, parts: 1 },
    {
      name: "mem-split",
      what: `${sizeMb} MB in ${Math.ceil(size / SPLIT_LIMIT_BYTES)} parts of 50 MB`,
      config: { connectionsPerDownload: 1, uploadLimitBytes: SPLIT_LIMIT_BYTES },
      parts: Math.ceil(size / SPLIT_LIMIT_BYTES),
    },
  ];
  for (const run of runs) {
    const bot = await BotProcess.start(api, ctx.dir, ctx.botConfig(`bot-${run.name}`, run.config));
    try {
      await settle(path.join(root, "big.bin"));
      bot.resetPeak();
      const calls = await botDelivers(api, `${nginx.baseUrl}/files/big.bin?${run.name}`, run.parts);
      const peak = bot.peakMb();
      const { seconds } = await nginx.transferSeconds(run.name);
      // Albums go one after another: the upload's time is the sum of their calls'.
      const upSeconds = calls.reduce((t, c) => t + c.at - c.startedAt, 0) / 1000;
      results.memory(`peak RSS moving ${run.what}`, peak, PEAK_LIMIT_MB);
      results.note(`  (${run.what}: download ${mbps(size, seconds).toFixed(0)} MB/s, upload ${mbps(size, upSeconds).toFixed(0)} MB/s)`);
      await dropUploads(calls);
    } finally {
      await bot.stop();
    }
  }

  const idle = await BotProcess.start(api, ctx.dir, ctx.botConfig("bot-mem-idle"));
  try {
    await botDelivers(api, `${nginx.baseUrl}/files/small.bin?mem-idle`);
    // The last progress edits and the final line go out before the queue is really idle.
    await new Promise((r) => setTimeout(r, 6000));
    results.memory("idle RSS after a small download", idle.rssMb(), IDLE_LIMIT_MB);
  } finally {
    await idle.stop();
  }
}

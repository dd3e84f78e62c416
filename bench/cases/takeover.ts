/**
 * A server uneven across connections: nginx holds only the first connection (the request from
 * the file's start) to UNEVEN_RATE_MB, as a shaped or overloaded path may, and lets the others
 * go at full speed. Without a take-over the first part alone sets the download's time; with it,
 * the connections that finish early take over the slow part's rest. The bot with four
 * connections against aria2c -x4 -s4 on the same URL.
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import { BotProcess } from "../bot-process.ts";
import { type BenchContext, QUICK, RUNS, botDelivers, dropUploads, mbps, sha256File } from "../context.ts";
import { MB, type Served, UNEVEN_RATE_MB, aria2, median, settle, writeRandomFile } from "../peers.ts";

const UNEVEN_MB = Number(process.env.BENCH_UNEVEN_MB ?? (QUICK ? 24 : 100));
const CONNECTIONS = 4;

/** What nginx served, as an operator reads its log: how many GETs, each one's range (or "whole") and its bytes. */
function describe(served: Served[]): string {
  const gets = served.filter((s) => s.request.startsWith("GET "));
  return `${gets.length} GETs: ${gets.map((s) => `${s.range === "-" || s.range === "" ? "whole" : s.range} ${(s.bytes / MB).toFixed(1)} MB`).join(", ")}`;
}

export async function takeoverCase(ctx: BenchContext): Promise<void> {
  const { api, dir, nginx, results, root } = ctx;
  const size = UNEVEN_MB * MB;
  const file = path.join(root, "uneven.bin");
  const scratch = path.join(dir, "peer.bin");
  const sha = await writeRandomFile(file, size, 5);
  const bot = await BotProcess.start(api, dir, ctx.botConfig("bot-takeover", { connectionsPerDownload: CONNECTIONS }));
  const seconds = { bot: [] as number[], aria: [] as number[] };
  let botSaw = "";
  let ariaSaw = "";
  try {
    for (let run = 1; run <= RUNS; run++) {
      const steps = [
        async () => {
          await settle(file);
          await aria2(`${nginx.baseUrl}/uneven/uneven.bin?ariaU-${run}`, dir, "peer.bin");
          seconds.aria.push((await nginx.transferSeconds(`ariaU-${run}`)).seconds);
          ariaSaw = describe(await nginx.served(`ariaU-${run}`));
          if ((await sha256File(scratch)) !== sha) results.fail("uneven server: aria2c fetched other bytes");
          await rm(scratch, { force: true });
        },
        async () => {
          await settle(file);
          const calls = await botDelivers(api, `${nginx.baseUrl}/uneven/uneven.bin?botU-${run}`);
          seconds.bot.push((await nginx.transferSeconds(`botU-${run}`)).seconds);
          botSaw = describe(await nginx.served(`botU-${run}`));
          if (calls[0]!.files[0]!.sha256 !== sha) results.fail(`uneven server, run ${run}: the bot's bytes differ`);
          await dropUploads(calls);
        },
      ];
      // Who goes first alternates: the page cache and the disk favour neither.
      for (const step of run % 2 ? steps : steps.reverse()) await step();
    }
  } finally {
    await bot.stop();
    await rm(file, { force: true });
  }
  Object.assign(results.raw, { unevenBot: seconds.bot, unevenAria: seconds.aria });
  results.row(
    `download ${UNEVEN_MB} MB, first connection at ${UNEVEN_RATE_MB} MB/s, others free, ${CONNECTIONS} connections (MB/s)`,
    mbps(size, median(seconds.bot)),
    "aria2c -x4 -s4",
    mbps(size, median(seconds.aria)),
    { min: 0.9, label: "≥ 0.9x" },
  );
  // Without a take-over the first part (a quarter of the file) comes at the slow rate alone.
  const withoutTakeover = size / CONNECTIONS / MB / UNEVEN_RATE_MB;
  results.note(
    `uneven server, ${UNEVEN_MB} MB: the bot ${median(seconds.bot).toFixed(1)} s, aria2c ${median(seconds.aria).toFixed(1)} s; ` +
      `without a take-over at least ${withoutTakeover.toFixed(1)} s (its first part at ${UNEVEN_RATE_MB} MB/s)`,
  );
  results.note(`uneven server, what nginx saw of the bot's last run: ${botSaw}`);
  results.note(`uneven server, what nginx saw of aria2c's last run: ${ariaSaw}`);
}

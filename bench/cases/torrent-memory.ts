/**
 * A torrent item's memory: the bot (its own process, `npm start`'s flags) downloads a single-file
 * torrent from a loopback seeder in the bench process and uploads it. Its peak RSS over the whole
 * item (download and upload) is the figure; the seeder's memory is the bench's, not the bot's.
 * The bot's speed is set against aria2c's on a magnet of the same size, so a memory fix that
 * slows it down shows.
 *
 *   BENCH_TORRENT_MB=200 (QUICK: 24)
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import { FileServer } from "../../test/support/file-server.ts";
import { TorrentSwarm } from "../../test/support/torrent-swarm.ts";
import { BotProcess } from "../bot-process.ts";
import { type BenchContext, CHAT, QUICK, RUNS, dropUploads } from "../context.ts";
import { median, settle, timedAria2Torrent } from "../peers.ts";

const TORRENT_MB = Number(process.env.BENCH_TORRENT_MB ?? (QUICK ? 24 : 200));
const PEAK_LIMIT_MB = 128;

export async function torrentMemoryCase(ctx: BenchContext): Promise<void> {
  if (!TORRENT_MB) return;
  const { api, dir, results } = ctx;
  const swarm = await TorrentSwarm.start();
  const bot = await BotProcess.start(api, dir, ctx.botConfig("bot-torrent-mem", { torrent: { dht: false, lsd: false, natTraversal: false } }));
  const seconds = { bot: [] as number[], aria: [] as number[] };
  // The whole item's peak (VmHWM), and the download's alone (RSS sampled until the upload starts).
  const peaks = { item: [] as number[], download: [] as number[] };
  try {
    for (let run = 1; run <= RUNS; run++) {
      // A torrent of its own per run (the same one again would be answered from the history),
      // with bytes of its own: the bot's and aria2c's each.
      const seed = (who: string, n: number) =>
        swarm.seed(`mem-${who}-${run}.bin`, [{ path: `mem-${who}-${run}.bin`, bytes: FileServer.randomBytes(TORRENT_MB * 1024 * 1024, 100 + n) }]);
      const forAria = await seed("aria", 2 * run);
      const forBot = await seed("bot", 2 * run + 1);
      const aria = async () => {
        seconds.aria.push(await timedAria2Torrent(forAria.magnetURI, path.join(dir, `aria-mem-${run}`)));
      };
      const ours = async () => {
        await settle();
        bot.resetPeak();
        const samples: Array<[number, number]> = [];
        const sampler = setInterval(() => samples.push([Date.now(), bot.rssMb()]), 20);
        const since = api.nextSeq;
        const started = Date.now();
        api.sendText(CHAT, `/torrent ${forBot.magnetURI}`);
        const call = await api.waitForCall((c) => c.method === "sendDocument" && c.response?.ok === true, { since, timeoutMs: 600_000 }).finally(() => clearInterval(sampler));
        // The download only, as for aria2c; the item's peak covers the upload too.
        seconds.bot.push((call.startedAt - started) / 1000);
        peaks.item.push(bot.peakMb());
        peaks.download.push(Math.max(...samples.filter(([at]) => at < call.startedAt).map(([, mb]) => mb)));
        if (call.files[0]?.sha256 !== forBot.files[0]!.sha256) results.fail(`torrent memory run ${run}: the bytes differ`);
        await dropUploads([call]);
      };
      for (const step of run % 2 ? [aria, ours] : [ours, aria]) await step();
      // Out of the seeder: the next run's torrents are the only ones it serves.
      for (const t of [forAria, forBot]) await new Promise<void>((r) => t.torrent.destroy(null, () => r()));
    }
  } finally {
    await bot.stop();
    await swarm.stop();
  }
  Object.assign(results.raw, { torrentMemItemPeak: peaks.item, torrentMemDownloadPeak: peaks.download, torrentMemBot: seconds.bot, torrentMemAria: seconds.aria });
  results.memory(`peak RSS for a ${TORRENT_MB} MB torrent item (download and upload)`, Math.max(...peaks.item), PEAK_LIMIT_MB);
  results.note(`  of which the download alone: ${Math.max(...peaks.download).toFixed(0)} MB (RSS sampled every 20 ms until the upload starts)`);
  results.row(`torrent ${TORRENT_MB} MB, memory case (MB/s)`, TORRENT_MB / median(seconds.bot), "aria2c", TORRENT_MB / median(seconds.aria), { min: 1, label: "≥ 1x" });
}

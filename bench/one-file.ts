/**
 * One file through the bot process, alone: the tool for looking into one number of the bench.
 * Prints the download and upload speed, the bot's CPU (user, system) and its peak memory.
 *
 *   npx tsx bench/one-file.ts                    # 1024 MB, one connection
 *   MBS=2048 CONN=4 npx tsx bench/one-file.ts
 *   UPLOAD_LIMIT_MB=50 npx tsx bench/one-file.ts # over the limit: byte parts in albums
 *   OVERLAP=0 npx tsx bench/one-file.ts          # the upload only after the download (each phase alone)
 *   CURL=1 npx tsx bench/one-file.ts             # curl fetches (and deletes) the file first:
 *                                                # see BENCHMARKS.md on what that does to the bot
 *   BENCH_NODE_FLAGS=--cpu-prof npx tsx bench/one-file.ts
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { BotApiDouble } from "../test/support/bot-api-double.ts";
import { BotProcess, buildOnce } from "./bot-process.ts";
import { botDelivers } from "./context.ts";
import { MB, Nginx, curlGet, requireTools, settle, writeRandomFile } from "./peers.ts";

requireTools();
buildOnce();
const dir = await mkdtemp(path.join(tmpdir(), "dlbot-one-"));
const root = path.join(dir, "www");
await mkdir(root);
await chmod(dir, 0o755);
await chmod(root, 0o755);
const size = Number(process.env.MBS ?? 1024) * MB;
const sha = await writeRandomFile(path.join(root, "big.bin"), size, 1);
const nginx = await Nginx.start(dir, root, "10m");
const uploadLimit = process.env.UPLOAD_LIMIT_MB ? Number(process.env.UPLOAD_LIMIT_MB) * MB : 2_097_152_000;
const api = await BotApiDouble.start({ maxUploadBytes: 2_097_152_000, storeUploads: false });
try {
  api.sendText(1, "/help");
  const bot = await BotProcess.start(api, dir, {
    allowedChatIds: [1],
    dataDir: path.join(dir, "data"),
    allowPrivateNetworks: true,
    maxFileSizeBytes: 4 * 1024 * MB,
    uploadLimitBytes: uploadLimit,
    connectionsPerDownload: Number(process.env.CONN ?? 1),
    uploadWhileDownloading: process.env.OVERLAP !== "0",
    torrent: { dht: false, lsd: false, natTraversal: false },
  });
  if (process.env.CURL) {
    await curlGet(`${nginx.baseUrl}/files/big.bin?curl`, path.join(dir, "peer.bin"));
    await rm(path.join(dir, "peer.bin"));
  }
  await settle(path.join(root, "big.bin"));
  bot.resetPeak();
  const cpu0 = bot.cpuTimes();
  const calls = await botDelivers(api, `${nginx.baseUrl}/files/big.bin?bot`, Math.ceil(size / uploadLimit));
  const [user, system] = bot.cpuTimes().map((t, i) => t - cpu0[i]!);
  const { seconds } = await nginx.transferSeconds("?bot");
  console.log(
    JSON.stringify({
      downloadMbPerS: Math.round(size / MB / seconds),
      // Albums go one after another: their time is the sum of their calls'.
      uploadMbPerS: Math.round(size / MB / (calls.reduce((t, c) => t + c.at - c.startedAt, 0) / 1000)),
      cpuUser: Number(user!.toFixed(2)),
      cpuSystem: Number(system!.toFixed(2)),
      peakRssMb: Math.round(bot.peakMb()),
      sha256Matches: calls.length === 1 && calls[0]!.files.length === 1 ? calls[0]!.files[0]!.sha256 === sha : "parts",
    }),
  );
  await bot.stop();
  if (process.env.KEEP_LOG) await (await import("node:fs/promises")).copyFile(bot.logFile, process.env.KEEP_LOG);
} finally {
  await api.stop();
  await nginx.stop();
  await rm(dir, { recursive: true, force: true });
}

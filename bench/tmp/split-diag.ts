import { mkdir, mkdtemp, chmod, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { BotApiDouble } from "../../test/support/bot-api-double.ts";
import { BotProcess, buildOnce } from "../bot-process.ts";
import { MB, Nginx, writeRandomFile } from "../peers.ts";
import { botDelivers } from "../context.ts";
buildOnce();
const dir = await mkdtemp(path.join(tmpdir(), "dlbot-diag-"));
const root = path.join(dir, "www"); await mkdir(root); await chmod(dir, 0o755); await chmod(root, 0o755);
await writeRandomFile(path.join(root, "big.bin"), 1024 * MB, 1);
const nginx = await Nginx.start(dir, root, "10m");
const api = await BotApiDouble.start({ maxUploadBytes: 2_097_152_000, storeUploads: false });
api.sendText(1, "/help");
const limit = Number(process.env.LIMIT_MB ?? 50) * MB;
const bot = await BotProcess.start(api, dir, { allowedChatIds: [1], dataDir: path.join(dir, "data"), allowPrivateNetworks: true, maxFileSizeBytes: 4096 * MB, uploadLimitBytes: limit, torrent: { dht: false, lsd: false, natTraversal: false }, logLevel: "info" });
for (let run = 0; run < 2; run++) {
  const since = api.nextSeq;
  const t0 = Date.now();
  bot.resetPeak();
  const calls = await botDelivers(api, `${nginx.baseUrl}/files/big.bin?d${run}`, Math.ceil(1024 * MB / limit));
  const served = (await nginx.served(`d${run}`)).filter((s) => s.request.startsWith("GET "));
  console.log("run", run, "total", (Date.now() - t0) / 1000, "peak", bot.peakMb().toFixed(0));
  for (const s of served) console.log("  GET", s.range, ((s.start - t0) / 1000).toFixed(2), ((s.end - t0) / 1000).toFixed(2));
  for (const c of calls) console.log("  ", c.method, c.files.length, ((c.startedAt - t0) / 1000).toFixed(2), ((c.at - t0) / 1000).toFixed(2));
  const others = api.calls.filter((c) => c.seq >= since && !calls.includes(c) && c.method !== "getUpdates").map((c) => `${c.method}@${((c.startedAt - t0) / 1000).toFixed(2)}`);
  console.log("  other:", others.join(" "));
}
await bot.stop(); await api.stop(); await nginx.stop(); await rm(dir, { recursive: true, force: true });

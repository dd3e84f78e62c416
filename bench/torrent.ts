import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createApp } from "../src/app.ts";
import { parseConfig } from "../src/config.ts";
import { createLogger } from "../src/logger.ts";
import { BotApiDouble } from "../test/support/bot-api-double.ts";
import { FileServer } from "../test/support/file-server.ts";
import { TorrentSwarm } from "../test/support/torrent-swarm.ts";

const CHAT = 1;
// The bare client moves 50 MB over loopback in about half a second; through the bot (piece
// verification, writing, then the upload) a 100 Mbit/s link's worth is the bar.
const MIN_MB_PER_S = 5;
const MAX_RSS_GROWTH_MB = 200;

/** A magnet from a local seeder (tracker on 127.0.0.1; DHT, LSD and NAT traversal off) through the bot. */
export async function benchTorrent(): Promise<string[]> {
  const sizeMb = Number(process.env.BENCH_TORRENT_MB ?? 50);
  const size = sizeMb * 1024 * 1024;
  const api = await BotApiDouble.start({ maxUploadBytes: size + 1 });
  const swarm = await TorrentSwarm.start();
  const dataDir = await mkdtemp(path.join(tmpdir(), "dlbot-bench-torrent-"));
  const seeded = await swarm.seed("big.bin", [{ path: "big.bin", bytes: FileServer.randomBytes(size, 98) }]);
  const config = parseConfig({
    botToken: api.token,
    apiRoot: api.apiRoot,
    allowedChatIds: [CHAT],
    dataDir,
    maxFileSizeBytes: size + 1,
    progressIntervalMs: 1000,
    allowPrivateNetworks: true,
    logLevel: "warn",
    torrent: { dht: false, lsd: false, natTraversal: false },
  });
  const app = await createApp(config, { logger: createLogger({ level: "warn", secrets: [config.botToken] }), freeBytes: async () => Number.MAX_SAFE_INTEGER });
  await app.start();

  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const since = api.nextSeq;
  const started = Date.now();
  api.sendText(CHAT, `/torrent ${seeded.magnetURI}`);
  const upload = await api.waitForCall((c) => c.method === "sendDocument" && c.response?.ok === true, { since, timeoutMs: 600_000 });
  const seconds = (Date.now() - started) / 1000;
  clearInterval(sampler);

  const ok = upload.files[0]?.sha256 === seeded.files[0]!.sha256;
  const mbPerS = sizeMb / seconds;
  const growthMb = (peakRss - rssBefore) / 1024 / 1024;
  console.log(JSON.stringify({ bench: "torrent", fileMb: sizeMb, seconds: Number(seconds.toFixed(2)), throughputMbPerS: Number(mbPerS.toFixed(1)), rssGrowthMb: Number(growthMb.toFixed(1)), sha256Matches: ok }));

  await app.stop();
  await swarm.stop();
  await api.stop();
  await rm(dataDir, { recursive: true, force: true });

  const failures: string[] = [];
  if (!ok) failures.push("uploaded bytes differ from the seeded file");
  if (mbPerS < MIN_MB_PER_S) failures.push(`throughput ${mbPerS.toFixed(1)} MB/s under the ${MIN_MB_PER_S} MB/s target`);
  if (growthMb > MAX_RSS_GROWTH_MB) failures.push(`memory grew ${growthMb.toFixed(0)} MB, over the ${MAX_RSS_GROWTH_MB} MB target`);
  return failures.map((f) => `torrent: ${f}`);
}

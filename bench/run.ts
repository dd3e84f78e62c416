/**
 * Benchmarks: the whole path (download → disk → multipart upload to the Bot API double) for a
 * large file on loopback, once over HTTP and once as a torrent from a local seeder. Checks the two
 * things unit tests must not time: throughput, and that memory stays flat (files stream; nothing
 * holds a whole download or upload).
 *
 *   npm run bench                      # 200 MB over HTTP, 50 MB torrent
 *   BENCH_MB=1000 BENCH_TORRENT_MB=200 npm run bench
 */
import { createApp } from "../src/app.ts";
import { parseConfig } from "../src/config.ts";
import { createLogger } from "../src/logger.ts";
import { BotApiDouble } from "../test/support/bot-api-double.ts";
import { FileServer } from "../test/support/file-server.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { benchTorrent } from "./torrent.ts";
import { tmpdir } from "node:os";
import path from "node:path";

const sizeMb = Number(process.env.BENCH_MB ?? 200);
const size = sizeMb * 1024 * 1024;
const CHAT = 1;

// Targets on the reference machine (2 cores, shared with the fakes): at least twice what a
// 100 Mbit/s server link carries (the bot must never be the bottleneck), and memory that does
// not grow with the file (the file server's own buffer is allocated before measuring starts).
const MIN_MB_PER_S = 25;
const MAX_RSS_GROWTH_MB = 150;

async function benchDirect(): Promise<string[]> {
  const api = await BotApiDouble.start({ maxUploadBytes: size + 1 });
  const files = await FileServer.start();
  const dataDir = await mkdtemp(path.join(tmpdir(), "dlbot-bench-"));
  const file = files.addFile("/big.bin", FileServer.randomBytes(size, 99));
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

  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);

  const since = api.nextSeq;
  const started = Date.now();
  api.sendText(CHAT, `/download ${file.url}`);
  const getDone = files.waitForRequest((r) => r.method === "GET" && r.state === "complete", { timeoutMs: 600_000 }).catch(() => undefined);
  const upload = await api.waitForCall((c) => c.method === "sendDocument" && c.response?.ok === true, { since, timeoutMs: 600_000 });
  const total = (Date.now() - started) / 1000;
  await getDone;
  clearInterval(sampler);

  const ok = upload.files[0]?.sha256 === file.sha256;
  const mbPerS = (sizeMb * 2) / total; // downloaded and uploaded
  const growthMb = (peakRss - rssBefore) / 1024 / 1024;
  const report = {
    fileMb: sizeMb,
    seconds: Number(total.toFixed(2)),
    throughputMbPerS: Number(mbPerS.toFixed(1)),
    rssGrowthMb: Number(growthMb.toFixed(1)),
    sha256Matches: ok,
  };
  console.log(JSON.stringify({ bench: "direct", ...report }));

  await app.stop();
  await api.stop();
  await files.stop();
  await rm(dataDir, { recursive: true, force: true });

  const failures: string[] = [];
  if (!ok) failures.push("uploaded bytes differ from the served file");
  if (mbPerS < MIN_MB_PER_S) failures.push(`throughput ${mbPerS.toFixed(1)} MB/s under the ${MIN_MB_PER_S} MB/s target`);
  if (growthMb > MAX_RSS_GROWTH_MB) failures.push(`memory grew ${growthMb.toFixed(0)} MB, over the ${MAX_RSS_GROWTH_MB} MB target`);
  return failures.map((f) => `direct: ${f}`);
}

async function main(): Promise<void> {
  const failures = [...(await benchDirect()), ...(await benchTorrent())];
  if (failures.length) {
    console.error(`bench failed: ${failures.join("; ")}`);
    process.exit(1);
  }
  console.log("bench passed");
}

void main();

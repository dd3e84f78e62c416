/**
 * Benchmarks: the whole path (download → disk → multipart upload to the Bot API double) for a
 * large file on loopback, once over HTTP and once as a torrent from a local seeder. Checks the two
 * things unit tests must not time: throughput, and that memory stays flat (files stream; nothing
 * holds a whole download or upload).
 *
 *   npm run bench                      # 200 MB over HTTP, 50 MB torrent
 *   BENCH_MB=1000 BENCH_TORRENT_MB=200 npm run bench
 */
import { FileServer } from "../test/support/file-server.ts";
import { BENCH_CHAT, measureRssGrowth, startBenchApp } from "./bench-app.ts";
import { benchTorrent } from "./torrent.ts";

// Targets on the reference machine (2 cores, shared with the fakes): at least twice what a
// 100 Mbit/s server link carries (the bot must never be the bottleneck), and memory that does
// not grow with the file (the file server's own buffer is allocated before measuring starts).
const MIN_MB_PER_S = 25;
const MAX_RSS_GROWTH_MB = 150;

async function benchDirect(): Promise<string[]> {
  const sizeMb = Number(process.env.BENCH_MB ?? 200);
  const size = sizeMb * 1024 * 1024;
  const files = await FileServer.start();
  const file = files.addFile("/big.bin", FileServer.randomBytes(size, 99));
  const { api, close } = await startBenchApp(size);

  const since = api.nextSeq;
  const started = Date.now();
  const { result: upload, growthMb } = await measureRssGrowth(async () => {
    api.sendText(BENCH_CHAT, `/download ${file.url}`);
    return api.waitForCall((c) => c.method === "sendDocument" && c.response?.ok === true, { since, timeoutMs: 600_000 });
  });
  const seconds = (Date.now() - started) / 1000;
  await close();
  await files.stop();

  const ok = upload.files[0]?.sha256 === file.sha256;
  const mbPerS = (sizeMb * 2) / seconds; // downloaded and uploaded
  console.log(JSON.stringify({ bench: "direct", fileMb: sizeMb, seconds: Number(seconds.toFixed(2)), throughputMbPerS: Number(mbPerS.toFixed(1)), rssGrowthMb: Number(growthMb.toFixed(1)), sha256Matches: ok }));

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

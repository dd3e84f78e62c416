import { FileServer } from "../test/support/file-server.ts";
import { TorrentSwarm } from "../test/support/torrent-swarm.ts";
import { BENCH_CHAT, measureRssGrowth, startBenchApp } from "./bench-app.ts";

// The bare client moves 50 MB over loopback in about half a second; through the bot (piece
// verification, writing, then the upload) a 100 Mbit/s link's worth is the bar.
const MIN_MB_PER_S = 5;
const MAX_RSS_GROWTH_MB = 200;

/** A magnet from a local seeder (tracker on 127.0.0.1; DHT, LSD and NAT traversal off) through the bot. */
export async function benchTorrent(): Promise<string[]> {
  const sizeMb = Number(process.env.BENCH_TORRENT_MB ?? 50);
  const size = sizeMb * 1024 * 1024;
  const swarm = await TorrentSwarm.start();
  const seeded = await swarm.seed("big.bin", [{ path: "big.bin", bytes: FileServer.randomBytes(size, 98) }]);
  const { api, close } = await startBenchApp(size);

  const since = api.nextSeq;
  const started = Date.now();
  const { result: upload, growthMb } = await measureRssGrowth(async () => {
    api.sendText(BENCH_CHAT, `/torrent ${seeded.magnetURI}`);
    return api.waitForCall((c) => c.method === "sendDocument" && c.response?.ok === true, { since, timeoutMs: 600_000 });
  });
  const seconds = (Date.now() - started) / 1000;
  await close();
  await swarm.stop();

  const ok = upload.files[0]?.sha256 === seeded.files[0]!.sha256;
  const mbPerS = sizeMb / seconds;
  console.log(JSON.stringify({ bench: "torrent", fileMb: sizeMb, seconds: Number(seconds.toFixed(2)), throughputMbPerS: Number(mbPerS.toFixed(1)), rssGrowthMb: Number(growthMb.toFixed(1)), sha256Matches: ok }));

  const failures: string[] = [];
  if (!ok) failures.push("uploaded bytes differ from the seeded file");
  if (mbPerS < MIN_MB_PER_S) failures.push(`throughput ${mbPerS.toFixed(1)} MB/s under the ${MIN_MB_PER_S} MB/s target`);
  if (growthMb > MAX_RSS_GROWTH_MB) failures.push(`memory grew ${growthMb.toFixed(0)} MB, over the ${MAX_RSS_GROWTH_MB} MB target`);
  return failures.map((f) => `torrent: ${f}`);
}

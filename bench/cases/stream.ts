/**
 * An HLS VOD from a server that limits each connection (nginx's /limited/): the bot (4
 * connections) against ffmpeg's own fetch, with one connection (-http_multiple 0) and as it comes
 * (it asks for the next segment on a second connection while it reads one), and `yt-dlp -N 4`
 * (its native HLS downloader, four fragments at once, then its ffmpeg fixup into an MP4). Each
 * ends with a playable MP4, so each time covers the download and the join; the bot's runs until
 * its upload starts, so its probe and thumbnail count too.
 *
 * nginx's limit_rate is per request, after a first burst: 2-4 MB segments come at about 15 MB/s
 * each, not 10.
 */
import { spawnSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { chmod, mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { BotApiDouble } from "../../test/support/bot-api-double.ts";
import { BotProcess } from "../bot-process.ts";
import { type BenchContext, CHAT, QUICK, RUNS, botDelivers, mbps } from "../context.ts";
import { MB, median, run, settle } from "../peers.ts";

const STREAM_MB = Number(process.env.BENCH_STREAM_MB ?? (QUICK ? 24 : 200));
/** One clip's length: the stream is this clip looped, its timestamps running on. */
const CLIP_S = 10;

/** Seconds a media file plays, by ffprobe; NaN when it does not read. */
function durationOf(file: string): number {
  const out = spawnSync("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file], { encoding: "utf8" });
  return Number.parseFloat(out.stdout.trim());
}

/**
 * A VOD of about `mb` MB in `folder`: a 10 s clip of noise (about 13 Mbit/s, an HD show's rate)
 * encoded once, then looped with -c copy into 2 s MPEG-TS segments: quick to make, and one
 * timeline from start to end, as a real show has.
 */
async function makeStream(folder: string, mb: number): Promise<{ bytes: number; seconds: number; segments: string[] }> {
  await mkdir(folder, { recursive: true });
  const clip = path.join(folder, "clip.ts");
  const ff = (...args: string[]) => run("ffmpeg", ["-v", "error", "-y", ...args]);
  await ff(
    "-f", "lavfi", "-i", `testsrc2=size=1280x720:rate=30,noise=alls=40:allf=t`, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    "-t", String(CLIP_S), "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "12M", "-maxrate", "12M", "-bufsize", "12M",
    "-x264-params", "keyint=60:min-keyint=60:scenecut=0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-f", "mpegts", clip,
  );
  const loops = Math.max(1, Math.round((mb * MB) / (await stat(clip)).size));
  await ff(
    "-stream_loop", String(loops - 1), "-i", clip, "-c", "copy", "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
    "-hls_segment_filename", path.join(folder, "seg%04d.ts"), path.join(folder, "index.m3u8"),
  );
  await rm(clip);
  const names = (await readdir(folder)).sort();
  let bytes = 0;
  const segments: string[] = [];
  for (const name of names) {
    const file = path.join(folder, name);
    // nginx's workers run as nobody.
    await chmod(file, 0o644);
    if (name.endsWith(".ts")) {
      segments.push(file);
      bytes += (await stat(file)).size;
    }
  }
  await chmod(folder, 0o755);
  const playlist = await readFile(path.join(folder, "index.m3u8"), "utf8");
  if (!playlist.includes("#EXT-X-ENDLIST")) throw new Error("stream bench: the playlist is not a VOD");
  return { bytes, seconds: loops * CLIP_S, segments };
}

/** settle() for a stream: the cache dropped, then every piece read back in, as a server's hot show is. */
async function settleStream(segments: string[]): Promise<void> {
  await settle(segments[0]);
  for (const file of segments.slice(1)) for await (const _ of createReadStream(file, { highWaterMark: MB })) {
    // Into the page cache.
  }
}

export async function streamCase(ctx: BenchContext): Promise<void> {
  const { results, nginx } = ctx;
  const missing = ["ffmpeg", "ffprobe", "yt-dlp"].filter((tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0);
  if (missing.length) {
    results.fail(`stream: ${missing.join(", ")} not found; install them with: apt-get install ffmpeg yt-dlp`);
    return;
  }
  const folder = path.join(ctx.root, "hls");
  const stream = await makeStream(folder, STREAM_MB);
  const url = `${nginx.baseUrl}/limited/hls/index.m3u8`;
  const out = path.join(ctx.dir, "stream-peer");
  const playsWhole = (what: string, file: string) => {
    const seconds = durationOf(file);
    if (!(Math.abs(seconds - stream.seconds) <= 1)) results.fail(`stream, ${what}: plays ${seconds} s, the stream is ${stream.seconds} s`);
  };

  // A Bot API double of its own that keeps what arrives: the delivered MP4 is probed.
  const api = await BotApiDouble.start({ maxUploadBytes: 2_097_152_000 });
  api.sendText(CHAT, "/help");
  const bot = await BotProcess.start(api, ctx.dir, ctx.botConfig("bot-stream", { connectionsPerDownload: 4 }));
  const times = { bot: [] as number[], ffmpeg: [] as number[], ffmpeg1: [] as number[], ytdlp: [] as number[], botFetch: [] as number[], botJoin: [] as number[] };
  let peak = 0;
  let fetchPeak = 0;
  let idle = Infinity;
  try {
    for (let i = 1; i <= RUNS; i++) {
      const steps = [
        ...(["ffmpeg", "ffmpeg1"] as const).map((which) => async () => {
          await settleStream(stream.segments);
          await mkdir(out, { recursive: true });
          const started = Date.now();
          // By default ffmpeg asks for the next segment on a second connection while it reads one
          // (http_multiple); -http_multiple 0 keeps it to one.
          const one = which === "ffmpeg1" ? ["-http_multiple", "0"] : [];
          await run("ffmpeg", ["-v", "error", "-y", ...one, "-i", url, "-c", "copy", path.join(out, "ffmpeg.mp4")]);
          times[which].push((Date.now() - started) / 1000);
          playsWhole(which, path.join(out, "ffmpeg.mp4"));
          await rm(out, { recursive: true, force: true });
        }),
        async () => {
          await settleStream(stream.segments);
          await mkdir(out, { recursive: true });
          const started = Date.now();
          // Its own HLS downloader (not ffmpeg), four fragments at once; ffmpeg only for the fixup.
          await run("yt-dlp", [
            "-q", "--no-progress", "--no-part", "--no-cache-dir", "--no-playlist", "--downloader", "m3u8:native",
            "--concurrent-fragments", "4", "-o", path.join(out, "ytdlp.%(ext)s"), url,
          ]);
          times.ytdlp.push((Date.now() - started) / 1000);
          const file = (await readdir(out)).find((n) => n.startsWith("ytdlp."));
          if (file) playsWhole("yt-dlp", path.join(out, file));
          else results.fail("stream, yt-dlp: no file");
          await rm(out, { recursive: true, force: true });
        },
        async () => {
          await settleStream(stream.segments);
          idle = Math.min(idle, bot.rssMb());
          bot.resetPeak();
          // A query of its own per run: the same URL again would be answered from the history.
          const tag = `bot-stream-${i}`;
          const started = Date.now();
          // The peak so far, sampled: what the download and join took, apart from the upload's.
          const samples: Array<[number, number]> = [];
          const sampler = setInterval(() => samples.push([Date.now(), bot.peakMb()]), 50);
          const calls = await botDelivers(api, `${url}?${tag}`).finally(() => clearInterval(sampler));
          peak = Math.max(peak, bot.peakMb());
          const before = samples.filter(([at]) => at <= calls[0]!.startedAt).at(-1)?.[1] ?? NaN;
          fetchPeak = Math.max(fetchPeak, before);
          // Until the upload starts: the download and the join into an MP4, as for the peers.
          times.bot.push((calls[0]!.startedAt - started) / 1000);
          // The segments alone, as nginx saw them: from the playlist's request to the last segment sent.
          const first = Math.min(...(await nginx.served(tag)).map((s) => s.start));
          times.botFetch.push((await lastSegmentEnd(nginx, first)) / 1000 - first / 1000);
          const joined = (await bot.logLines()).filter((l) => l.msg === "stream segments joined").at(-1);
          times.botJoin.push(Number(joined?.ms) / 1000);
          const video = calls[0]!.files.find((f) => f.filename.endsWith(".mp4"));
          if (video) playsWhole("bot", video.path);
          else results.fail("stream, bot: no file uploaded");
          for (const f of calls[0]!.files) await rm(f.path, { force: true });
        },
      ];
      for (const step of i % 2 ? steps : steps.reverse()) await step();
    }
  } finally {
    await bot.stop();
    await api.stop();
    await rm(folder, { recursive: true, force: true });
  }
  Object.assign(results.raw, {
    streamBot: times.bot, streamBotFetch: times.botFetch, streamBotJoin: times.botJoin,
    streamFfmpeg: times.ffmpeg, streamFfmpeg1: times.ffmpeg1, streamYtdlp: times.ytdlp,
  });
  const mb = Math.round(stream.bytes / MB);
  const bot1 = mbps(stream.bytes, median(times.bot));
  const what = `HLS ${mb} MB, ${ctx.limit}/connection server, 4 connections, /download to the MP4's upload (MB/s)`;
  results.row(what, bot1, "ffmpeg -http_multiple 0 (1 connection)", mbps(stream.bytes, median(times.ffmpeg1)), { min: 3, label: "≥ 3x" });
  results.row("  same stream and server", bot1, "ffmpeg (its default, 2 connections)", mbps(stream.bytes, median(times.ffmpeg)));
  results.row("  same stream and server", bot1, "yt-dlp -N 4", mbps(stream.bytes, median(times.ytdlp)), { min: 1, label: "≥ 1x" });
  const [total, fetched, join] = [median(times.bot), median(times.botFetch), median(times.botJoin)];
  results.note(
    `HLS ${mb} MB in ${stream.segments.length} segments, the bot: ${total.toFixed(2)} s, of which the segments ${fetched.toFixed(2)} s ` +
      `(${mbps(stream.bytes, fetched).toFixed(0)} MB/s, nginx's log), the join into an MP4 ${join.toFixed(2)} s, ` +
      `the rest (the item's start, its probe and thumbnail) ${(total - fetched - join).toFixed(2)} s`,
  );
  results.memory(`peak RSS for the ${mb} MB HLS stream, fetched, joined and uploaded`, peak, 128);
  results.note(`  until the upload started: ${fetchPeak.toFixed(0)} MB; before the item: ${idle.toFixed(0)} MB`);
}

/** When nginx sent the last segment asked for after `since` (ms since the epoch). */
async function lastSegmentEnd(nginx: BenchContext["nginx"], since: number): Promise<number> {
  const segs = (await nginx.served("/limited/hls/seg")).filter((s) => s.start >= since - 5);
  return Math.max(...segs.map((s) => s.end));
}

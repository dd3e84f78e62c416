/**
 * What playable parts cost: a video over the upload limit is cut with ffmpeg into parts that each
 * play, which needs the whole file, so nothing goes up before the download ends (byte parts of the
 * same file go up while it downloads). The same video through two bots, one cutting playable parts
 * (the default), one sending byte parts (`splitStyle: "bytes"`); a note, not a target.
 */
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { BotProcess } from "../bot-process.ts";
import { type BenchContext, CHAT, QUICK, dropUploads } from "../context.ts";
import { MB, median, run } from "../peers.ts";

const VIDEO_MB = Number(process.env.BENCH_VIDEO_MB ?? (QUICK ? 100 : 1024));
const RUNS = QUICK ? 1 : 3;

/** A lossless 720p clip of about 20 MB, joined to itself (stream copy) until it is `mb` big. */
async function makeVideo(dir: string, file: string, mb: number): Promise<void> {
  const clip = path.join(dir, "clip.mp4");
  await run("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30", "-f", "lavfi", "-i", "sine=f=440:sample_rate=44100", "-t", "10", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-g", "60", "-c:a", "aac", "-shortest", clip]);
  const copies = Math.max(1, Math.round(mb / 20));
  const list = path.join(dir, "clips.txt");
  await writeFile(list, Array.from({ length: copies }, () => `file '${clip}'`).join("\n"));
  await run("ffmpeg", ["-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", list, "-c", "copy", "-movflags", "+faststart", file]);
  await run("chmod", ["0644", file]);
  await rm(clip, { force: true });
}

/** Seconds from /download to the last part at the Bot API server (read once the item says "delivered"). */
async function itemSeconds(ctx: BenchContext, url: string): Promise<number> {
  const since = ctx.api.nextSeq;
  const started = Date.now();
  ctx.api.sendText(CHAT, `/download ${url}`);
  await ctx.api.waitForCall((c) => /^(editMessageText|sendMessage)$/.test(c.method) && /: delivered \(/.test(String(c.params.text)), { since, timeoutMs: 1_800_000 });
  const uploads = ctx.api.calls.filter((c) => c.seq >= since && /^send(MediaGroup|Video|Document)$/.test(c.method) && c.response?.ok === true);
  await dropUploads(uploads);
  return (Math.max(...uploads.map((c) => c.at)) - started) / 1000;
}

export async function playableCostCase(ctx: BenchContext): Promise<void> {
  const file = path.join(ctx.root, "film.mp4");
  await makeVideo(ctx.dir, file, VIDEO_MB);
  const times = { playable: [] as number[], bytes: [] as number[] };
  for (const style of ["playable", "bytes"] as const) {
    const bot = await BotProcess.start(ctx.api, ctx.dir, ctx.botConfig(`bot-video-${style}`, { uploadLimitBytes: 50 * MB, splitStyle: style }));
    try {
      for (let i = 1; i <= RUNS; i++) times[style].push(await itemSeconds(ctx, `${ctx.nginx.baseUrl}/files/film.mp4?${style}-${i}`));
    } finally {
      await bot.stop();
    }
  }
  ctx.results.raw.videoPlayable = times.playable;
  ctx.results.raw.videoBytes = times.bytes;
  ctx.results.note(
    `a ${VIDEO_MB} MB video over the 50 MB limit, /download to delivered: ${median(times.playable).toFixed(2)} s in playable parts (download, then ffmpeg cuts, then the parts go up), ` +
      `${median(times.bytes).toFixed(2)} s in byte parts (going up while it downloads)`,
  );
  await rm(file, { force: true });
}

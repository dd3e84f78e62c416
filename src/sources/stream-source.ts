import { promises as fs } from "node:fs";
import path from "node:path";
import type { Got } from "got";
import { safeFileName } from "../storage/paths.ts";
import type { MediaTools } from "../tools/ffmpeg.ts";
import type { TransferLimits } from "./ranged-download.ts";
import type { Source } from "./source.ts";
import { remux, trackInput } from "./stream/stream-join.ts";
import { fetchPieces } from "./stream/stream-pieces.ts";
import { loadPlan, makePlan, savePlan, streamTooLarge } from "./stream/stream-plan.ts";

export interface StreamOptions {
  /** The guarded HTTP client: every playlist, key, init section and segment goes through it. */
  http: Got;
  tools: MediaTools;
  limits: TransferLimits;
  /** Segments fetched at once. */
  connections: number;
}

/** The folder of a stream's pieces inside the item's folder; no downloaded name starts with a dot. */
const WORK_DIR = ".stream";

/**
 * The stream source: an HLS or DASH stream downloaded into one MP4 (the direct source hands a
 * manifest here). The bot fetches a stream itself, through its guarded HTTP client: the
 * playlists (parsed by m3u8-parser / mpd-parser, never regular expressions), the best variant
 * that fits `maxBytes`, and every init section, key and segment, several at once. Each piece is
 * stored as it completes, so a retry or a restart fetches only the pieces it lacks. ffmpeg then
 * only copies local files into an MP4 (a forced demuxer, the file and concatf protocols only):
 * it never touches the network, whatever the playlist says. Live streams and DRM are refused with a
 * one-line reason.
 */
export function createStreamSource(options: StreamOptions): Source {
  return {
    kind: "stream",
    async download(ctx) {
      const { url } = ctx.item;
      const work = path.join(ctx.dir, WORK_DIR);
      await fs.mkdir(work, { recursive: true });
      let plan = await loadPlan(work);
      if (!plan) {
        ctx.progress({ bytesDone: 0, totalBytes: null, stage: { kind: "reading-playlist" } });
        const made = await makePlan(options.http, url, ctx);
        if (!("version" in made)) return { kind: "choose", offer: made };
        plan = made;
        await savePlan(work, plan);
      }
      const bytes = await fetchPieces(options, ctx, work, plan);
      const joinStart = Date.now();
      ctx.progress({ bytesDone: bytes, totalBytes: bytes, stage: { kind: "joining-segments" } });
      const inputs = [];
      for (const [t, track] of plan.tracks.entries()) inputs.push(await trackInput(work, t, track));
      const file = path.join(ctx.dir, `${safeFileName(path.basename(ctx.item.title, path.extname(ctx.item.title)) || "stream")}.mp4`);
      // The remux writes a copy of the pieces; they stay until it is whole, so a stop during it
      // resumes from them without fetching the stream again.
      await ctx.ensureDiskRoom(bytes);
      await remux(options, inputs, file, { bytes, durationSeconds: plan.durationSeconds }, ctx);
      ctx.logger.info({ bytes, ms: Date.now() - joinStart }, "stream segments joined");
      const { size } = await fs.stat(file);
      if (size >= ctx.maxBytes) {
        await fs.rm(file, { force: true });
        throw streamTooLarge(ctx.maxBytes);
      }
      await fs.rm(work, { recursive: true, force: true });
      await ctx.checkpoint({ sizeBytes: size, title: path.basename(file) });
      return { kind: "files", files: [{ path: file, name: path.basename(file), size }] };
    },
  };
}

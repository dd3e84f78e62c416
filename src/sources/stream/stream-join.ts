import { promises as fs } from "node:fs";
import path from "node:path";
import { DownloadError, stopReason } from "../../errors.ts";
import { type MediaTools, joinTracksArgs, progressWatch } from "../../tools/ffmpeg.ts";
import { runTool, toolErrorDetail } from "../../tools/run-tool.ts";
import type { SourceContext } from "../source.ts";
import { sniffContainer, type StreamTrack } from "./stream-manifest.ts";
import { pieceFile } from "./stream-pieces.ts";

/** A stream's pieces copied by ffmpeg, track by track, into one MP4. */

/** A track as ffmpeg reads it: the list of its pieces, in order, and the demuxer for them. */
export interface TrackInput {
  list: string;
  format: string;
}

/**
 * A track's pieces as one input. MPEG-TS segments and fragmented-MP4 init + segments join byte
 * for byte, so ffmpeg's concatf protocol reads them in turn from a list the bot writes: no joined
 * copy is made, and the pieces are read once, by the remux itself.
 */
export async function trackInput(work: string, t: number, track: StreamTrack): Promise<TrackInput> {
  const files = track.pieces.map((_, i) => pieceFile(work, t, i));
  // concatf takes one URL a line; the bot's own folder holds no line break, but a data folder
  // named with one would make ffmpeg read something else.
  if (files.some((f) => /[\r\n]/.test(f))) {
    throw new DownloadError("NO_MEDIA", "stream: the data folder's path has a line break", { reason: { kind: "streamJoinFailed" } });
  }
  const format = sniffContainer(await headOf(files));
  if (!format) {
    throw new DownloadError("NO_MEDIA", "stream: segments of an unknown format", { reason: { kind: "streamUnknownFormat" } });
  }
  const list = path.join(work, `track-${t}.list`);
  await fs.writeFile(list, files.map((f) => `file:${f}\n`).join(""));
  return { list, format };
}

/** Enough of a track to tell MPEG-TS (two sync bytes 188 apart) from MP4 and the rest. */
const HEAD_BYTES = 400;

/** The track's first HEAD_BYTES, across as many pieces as it takes (an init section may be tiny). */
async function headOf(files: string[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  for (const file of files) {
    if (got >= HEAD_BYTES) break;
    const handle = await fs.open(file, "r");
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(HEAD_BYTES - got), 0, HEAD_BYTES - got, 0);
      parts.push(buffer.subarray(0, bytesRead));
      got += bytesRead;
    } finally {
      await handle.close();
    }
  }
  return Buffer.concat(parts);
}

/** ffmpeg copies the tracks' pieces into one MP4: local files, forced demuxers, no re-encoding. */
export async function remux(options: { tools: MediaTools }, tracks: TrackInput[], file: string, inputBytes: number, ctx: SourceContext): Promise<void> {
  try {
    await runTool(
      options.tools.ffmpeg,
      joinTracksArgs(tracks, file, ctx.maxBytes),
      {
        signal: ctx.signal,
        timeoutMs: 30 * 60_000,
        // A copy of local files always moves, but +faststart rewrites the whole file at the end
        // without a progress line: the watchdog allows for that pass on a slow disk.
        ...progressWatch(inputBytes),
        processes: options.tools.processes,
      },
    );
  } catch (error) {
    await fs.rm(file, { force: true });
    if (ctx.signal.aborted) throw stopReason(ctx.signal);
    throw new DownloadError("NO_MEDIA", `stream: remux failed: ${toolErrorDetail(error)}`, {
      cause: error,
      reason: { kind: "streamJoinFailed" },
    });
  }
}

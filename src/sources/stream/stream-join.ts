import { promises as fs } from "node:fs";
import path from "node:path";
import { DownloadError, ToolError, stopReason } from "../../errors.ts";
import { MOOV_TOO_SMALL, type MediaTools, joinTracksArgs, progressWatch } from "../../tools/ffmpeg.ts";
import { topLevelBoxes } from "../../tools/mp4-boxes.ts";
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

/**
 * Room kept for the MP4's index at the start, from the stream's length: about 12 bytes per video
 * frame and 4 per audio frame, so 2 kB a second fits 60 fps and AAC twice over. Without a
 * length, none: +faststart then moves the index with a second pass over the file. Pure.
 */
function moovRoom(durationSeconds: number): number | undefined {
  return durationSeconds > 0 ? 64 * 1024 + Math.ceil(durationSeconds) * 2048 : undefined;
}

/**
 * ffmpeg copies the tracks' pieces into one MP4: local files, forced demuxers, no re-encoding.
 * The index goes into the room kept for it, saving a rewrite of the whole file; a stream with
 * more frames than that room holds is copied again the slow way.
 */
export async function remux(
  options: { tools: MediaTools },
  tracks: TrackInput[],
  file: string,
  input: { bytes: number; durationSeconds: number },
  ctx: SourceContext,
): Promise<void> {
  const room = moovRoom(input.durationSeconds);
  try {
    let fitted = false;
    if (room) {
      try {
        await copyTracks(options, joinTracksArgs(tracks, file, ctx.maxBytes, room), input.bytes, ctx);
        // ffmpeg 5.1 exits 0 when the index overflowed its room (and writes it over the data).
        fitted = await boxesInOrder(file);
      } catch (error) {
        if (ctx.signal.aborted || !(error instanceof ToolError && error.stderr.includes(MOOV_TOO_SMALL))) throw error;
      }
      if (!fitted) ctx.logger.info({ room }, "the stream's index did not fit the room kept for it; copying it again with +faststart");
    }
    if (!fitted) await copyTracks(options, joinTracksArgs(tracks, file, ctx.maxBytes), input.bytes, ctx);
  } catch (error) {
    await fs.rm(file, { force: true });
    if (ctx.signal.aborted) throw stopReason(ctx.signal);
    throw new DownloadError("NO_MEDIA", `stream: remux failed: ${toolErrorDetail(error)}`, {
      cause: error,
      reason: { kind: "streamJoinFailed" },
    });
  }
}

/**
 * Whether an MP4's top-level boxes follow one another to its last byte, the index (`moov`) before
 * the data (`mdat`): what an index written past its room breaks.
 */
export async function boxesInOrder(file: string): Promise<boolean> {
  let moov = false;
  let end = 0;
  for await (const box of topLevelBoxes(file)) {
    if (box === "broken" || (box.type === "mdat" && !moov)) return false;
    if (box.type === "moov") moov = true;
    end = box.start + box.length;
  }
  return moov && end === (await fs.stat(file)).size;
}

async function copyTracks(options: { tools: MediaTools }, args: string[], inputBytes: number, ctx: SourceContext): Promise<void> {
  await runTool(options.tools.ffmpeg, args, {
    signal: ctx.signal,
    timeoutMs: 30 * 60_000,
    // A copy of local files always moves, but +faststart rewrites the whole file at the end
    // without a progress line: the watchdog allows for that pass on a slow disk.
    ...progressWatch(inputBytes),
    processes: options.tools.processes,
  });
}

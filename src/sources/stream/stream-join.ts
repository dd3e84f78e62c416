import { createReadStream, promises as fs } from "node:fs";
import path from "node:path";
import { DownloadError, stopReason } from "../../errors.ts";
import { FileSink } from "../../storage/file-sink.ts";
import { type MediaTools, joinTracksArgs, progressWatch } from "../../tools/ffmpeg.ts";
import { runTool, toolErrorDetail } from "../../tools/run-tool.ts";
import type { SourceContext } from "../source.ts";
import { sniffContainer, type StreamTrack } from "./stream-manifest.ts";
import { pieceFile, piecesDir } from "./stream-pieces.ts";
import type { JoinedTrack } from "./stream-plan.ts";

/** A stream's pieces joined track by track, then copied by ffmpeg into one MP4. */

/**
 * A track's pieces, in order, as one file: MPEG-TS segments and fragmented-MP4 init + segments
 * join byte for byte. Each piece goes once it is copied, so the disk holds the track once.
 */
export async function joinTrack(work: string, t: number, track: StreamTrack, signal: AbortSignal): Promise<JoinedTrack> {
  const file = path.join(work, `track-${t}.joined`);
  const out = new FileSink(file, { flags: "w" });
  // The first bytes tell the container: kept as they pass, not read back.
  let head = Buffer.alloc(0);
  try {
    for (let i = 0; i < track.pieces.length; i++) {
      if (signal.aborted) throw stopReason(signal);
      for await (const chunk of createReadStream(pieceFile(work, t, i), { highWaterMark: 1024 * 1024 })) {
        if (head.length < HEAD_BYTES) head = Buffer.concat([head, (chunk as Buffer).subarray(0, HEAD_BYTES - head.length)]);
        await out.write(chunk as Buffer);
      }
    }
  } finally {
    await out.close();
  }
  const format = sniffContainer(head);
  if (!format) {
    throw new DownloadError("NO_MEDIA", "stream: segments of an unknown format", { reason: { kind: "streamUnknownFormat" } });
  }
  return { file, format, bytes: out.written };
}

/** Enough of a joined track to tell MPEG-TS (two sync bytes 188 apart) from MP4 and the rest. */
const HEAD_BYTES = 400;

export async function forgetPieces(work: string): Promise<void> {
  await fs.rm(path.join(work, "plan.json"), { force: true });
  await fs.rm(piecesDir(work), { recursive: true, force: true });
}

/** ffmpeg copies the joined tracks into one MP4: local files, forced demuxers, no re-encoding. */
export async function remux(options: { tools: MediaTools }, tracks: JoinedTrack[], file: string, inputBytes: number, ctx: SourceContext): Promise<void> {
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

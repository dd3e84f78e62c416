import { promises as fs } from "node:fs";
import path from "node:path";
import { DownloadError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { DeliverableFile } from "../sources/source.ts";
import type { DataDisk } from "../storage/data-disk.ts";
import { type CoverSource, type MediaTools, audioOnlyArgs, audioPlan, progressWatch } from "../tools/ffmpeg.ts";
import { type MediaInfo, probeMedia } from "../tools/ffprobe.ts";
import { runTool, toolErrorDetail } from "../tools/run-tool.ts";

/**
 * `/audio`: what goes up of a downloaded file is its audio track alone, as a file Telegram plays
 * with `sendAudio` (see `audioPlan`: copied into an M4A or an MP3 when its codec allows, else
 * encoded to MP3), with its title and performer and a cover: the file's own cover picture, or a
 * frame a little into its video. The download is deleted once the audio is out of it.
 */

export interface AudioOnlyOptions {
  disk: DataDisk;
  logger: Logger;
}

/** Room for a cover picture and the container around the track. */
const OVERHEAD_BYTES = 1024 * 1024;
/** The most an MP3 takes a second (320 kbit/s), whatever LAME's VBR chooses. */
const MP3_MAX_BYTES_PER_SECOND = 40_000;

/**
 * The audio of `file` on its own. A file that is already that (an M4A or MP3 of audio only)
 * stays as it is, and so does one ffprobe cannot read (not media at all); a video without sound
 * has no audio to give and fails the item.
 */
export async function extractAudio(tools: MediaTools, file: DeliverableFile, options: AudioOnlyOptions, signal: AbortSignal): Promise<DeliverableFile> {
  const info = await probeMedia(tools, file.path, signal);
  if (!info) return file;
  if (!info.audio) {
    if (!info.video) return file;
    throw new DownloadError("NO_MEDIA", `${file.name} has no audio track`, { reason: { kind: "noAudioTrack" } });
  }
  const plan = audioPlan(info.audio.codec);
  if (!info.video && plan.copy && path.extname(file.name).toLowerCase() === `.${plan.container}`) return file;

  await options.disk.assertRoom(roomNeeded(info, file.size));
  const name = `${path.basename(file.name, path.extname(file.name)) || "audio"}.${plan.container}`;
  // A folder of its own, created new: no downloaded file can have the output's name.
  const work = await fs.mkdtemp(path.join(path.dirname(file.path), ".audio-"));
  const target = path.join(work, name);
  const cover: CoverSource | undefined = info.video ? { from: "video", atSeconds: Math.min(5, info.duration / 10) } : info.cover ? { from: "picture" } : undefined;
  const tags = { title: info.title, performer: info.performer };
  const run = (withCover: CoverSource | undefined) =>
    runTool(tools.ffmpeg, audioOnlyArgs(file.path, target, { plan, cover: withCover, tags }), {
      signal,
      timeoutMs: 60 * 60_000,
      processes: tools.processes,
      // Watched for progress: a run quiet for longer than a pass could take is stuck and ends.
      ...progressWatch(file.size),
    });
  try {
    try {
      await run(cover);
    } catch (error) {
      if (signal.aborted || !cover) throw error;
      // A picture ffmpeg cannot make (an odd video codec, a broken cover) costs the cover only.
      options.logger.warn({ file: file.name, err: toolErrorDetail(error) }, "could not make a cover; extracting the audio without one");
      await run(undefined);
    }
  } catch (error) {
    await fs.rm(work, { recursive: true, force: true });
    if (signal.aborted) throw error;
    throw new DownloadError("NO_MEDIA", `could not extract the audio of ${file.name}: ${toolErrorDetail(error)}`, {
      cause: error,
      reason: { kind: "audioExtractFailed" },
    });
  }
  await fs.rm(file.path, { force: true });
  const { size } = await fs.stat(target);
  options.logger.info({ file: file.name, audio: name, codec: info.audio.codec, copied: plan.copy, bytes: size }, "audio extracted");
  return { ...file, path: target, name, size };
}

/**
 * What the audio needs on disk, from what ffprobe says: a copy, its bit rate times its length
 * (never more than the whole file); an MP3, at most 320 kbit/s for its length (more than the
 * file, for a thin Opus track). Plus a cover and the container. Pure.
 */
export function roomNeeded(info: MediaInfo, fileSize: number): number {
  const plan = audioPlan(info.audio?.codec ?? "");
  const seconds = info.duration + 1;
  const bitRate = info.audio?.bitRate ?? 0;
  const estimate = plan.copy
    ? Math.min(fileSize, bitRate > 0 && info.duration > 0 ? Math.ceil((bitRate / 8) * seconds) : fileSize)
    : info.duration > 0 ? MP3_MAX_BYTES_PER_SECOND * seconds : fileSize;
  return estimate + OVERHEAD_BYTES;
}

/** `/audio` without ffmpeg: nothing can take the audio out of a video. */
export function audioNeedsToolsError(): DownloadError {
  return new DownloadError("NO_MEDIA", "the audio of a download cannot be extracted without ffmpeg", {
    reason: { kind: "audioNeedsFfmpeg" },
  });
}

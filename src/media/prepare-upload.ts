import { promises as fs } from "node:fs";
import path from "node:path";
import type { ChatSettings } from "../chats/chat-settings.ts";
import type { Item } from "../items/item.ts";
import type { Logger } from "../logger.ts";
import { overUploadLimitError, uploadParts } from "../queue/upload-parts.ts";
import type { WorkerDeps } from "../queue/worker-deps.ts";
import type { DeliverableFile } from "../sources/source.ts";
import type { DataDisk } from "../storage/data-disk.ts";
import { type MediaTools, cutArgs, progressWatch, remuxArgs } from "../tools/ffmpeg.ts";
import { probeMedia } from "../tools/ffprobe.ts";
import { topLevelBoxes } from "../tools/mp4-boxes.ts";
import { runTool } from "../tools/run-tool.ts";
import { audioNeedsToolsError, extractAudio } from "./audio-only.ts";

export interface PrepareOptions {
  tools?: MediaTools | undefined;
  /** Largest single upload (`uploadLimitBytes`). */
  limit: number;
  /** `splitLargeFiles`. */
  split: boolean;
  /** A local Bot API server reads whole files by path (`localBotApi`): they go up once complete. */
  localBotApi?: boolean;
  /** `uploadWhileDownloading` (default on): off, nothing goes up before its file is whole. */
  early?: boolean;
  disk: DataDisk;
  logger: Logger;
  /**
   * The item's chat's settings, read when its files are prepared: "document" uploads leave the
   * files as they came (no remux, no playable parts), and the split style picks the parts.
   */
  settingsOf: (chatId: number) => Promise<Pick<ChatSettings, "uploadAs" | "splitStyle">>;
}

/**
 * What goes up for the downloaded files of an item (the worker's step between download and
 * upload): for its chat's settings, and what was asked of their media (`item.wants`).
 */
export type UploadPreparer = (files: DeliverableFile[], signal: AbortSignal, item: Pick<Item, "chatId" | "wants">) => Promise<DeliverableFile[]>;

const MEDIA = /\.(mp4|m4v|mkv|webm|mov|avi|mp3|m4a|aac|ogg|oga|opus|flac|wav)$/i;
/** Containers Telegram plays as video once they are MP4, with codecs it plays. */
const REMUX = /\.(mkv|webm|mov|avi|m4v)$/i;
const PLAYABLE_VIDEO = new Set(["h264", "hevc"]);
const PLAYABLE_AUDIO = new Set(["aac", "mp3"]);

/**
 * `/audio` first: a file's audio track replaces it (see `audio-only.ts`), and is what the rest
 * applies to. Files over the upload limit: a video or audio file is cut into playable parts with
 * ffmpeg (stream copy, no re-encoding, each part starting on a keyframe and under the limit),
 * anything else (or media ffmpeg cannot cut, or every file in a chat whose split style is "bytes")
 * into byte parts. Videos Telegram plays but in another container (MKV, WebM, MOV, AVI) become MP4
 * by stream copy; an MP4 whose index sits at its end is rewritten with the index first, so it
 * streams. A chat that takes files as documents gets them as they came.
 */
export function createUploadPreparer(options: PrepareOptions): { prepare: UploadPreparer; planEarly: EarlyPlanner } {
  return { prepare: preparer(options), planEarly: earlyPlanner(options) };
}

/**
 * What goes up for a file about to be downloaded, when that is sure before its bytes arrive (so it
 * can go up while it downloads): byte parts of a file over the limit, or a big file (16 MB or more)
 * that goes up as it came, as a document. Never media that is remuxed, probed or cut into playable
 * parts (that needs the whole file), nor when only its audio is wanted. Undefined otherwise: the
 * file is prepared once it is whole.
 */
type EarlyPlanner = NonNullable<WorkerDeps["planEarly"]>;

function earlyPlanner(options: PrepareOptions): EarlyPlanner {
  return async (file, item) => {
    if (options.early === false || item.wants?.audioOnly) return undefined;
    const whole = file.size <= options.limit;
    // A whole file goes by path to a local server once complete; a small one gains nothing.
    if (whole && (options.localBotApi || file.size < EARLY_WHOLE_MIN_BYTES)) return undefined;
    if (!whole && !options.split) return undefined;
    const settings = await options.settingsOf(item.chatId);
    // Media is remuxed, probed or cut from the whole file, unless it goes as it came.
    const media = mediaTools(options, settings) && MEDIA.test(file.name);
    if (media && (whole || settings.splitStyle === "playable")) return undefined;
    return uploadParts([file], { limit: options.limit, split: true });
  };
}

/**
 * The tools that make media play, for a chat that takes media as media: one whose files go up as
 * documents gets them as they came (nothing remuxed or cut into playable parts; the audio `/audio`
 * asks for is still taken out).
 */
function mediaTools(options: PrepareOptions, settings: Pick<ChatSettings, "uploadAs">): MediaTools | undefined {
  return settings.uploadAs === "document" ? undefined : options.tools;
}

/** Below this a whole file is uploaded once downloaded: overlapping saves too little to matter. */
const EARLY_WHOLE_MIN_BYTES = 16 * 1024 * 1024;

function preparer(options: PrepareOptions): UploadPreparer {
  return async (files, signal, item) => {
    const settings = await options.settingsOf(item.chatId);
    const wants = item.wants ?? {};
    const out: DeliverableFile[] = [];
    for (const downloaded of files) {
      const tools = options.tools;
      const whole = (downloaded.offset ?? 0) === 0;
      let file = downloaded;
      if (wants.audioOnly && whole) {
        if (!tools) throw audioNeedsToolsError();
        file = await extractAudio(tools, downloaded, options, signal);
      }
      const media = whole && MEDIA.test(file.name) ? mediaTools(options, settings) : undefined;
      if (file.size <= options.limit) {
        out.push(media ? await playable(media, file, options, signal) : file);
        continue;
      }
      if (!options.split) throw overUploadLimitError(file.size, options.limit);
      const parts = media && settings.splitStyle === "playable" ? await cutMedia(media, file, options, signal) : undefined;
      out.push(...(parts ?? uploadParts([file], { limit: options.limit, split: true })));
    }
    return out;
  };
}

/** An MP4 with its index first, made from a playable video in another container or with `moov` last. */
async function playable(tools: MediaTools, file: DeliverableFile, options: PrepareOptions, signal: AbortSignal): Promise<DeliverableFile> {
  const isMp4 = /\.mp4$/i.test(file.name);
  if (isMp4 ? await moovFirst(file.path) : !REMUX.test(file.name)) return file;
  const info = await probeMedia(tools, file.path, signal);
  if (!info?.video || !PLAYABLE_VIDEO.has(info.video.codec) || (info.audio && !PLAYABLE_AUDIO.has(info.audio.codec))) return file;
  await options.disk.assertRoom(file.size);
  const name = isMp4 ? file.name : `${path.basename(file.name, path.extname(file.name))}.mp4`;
  // A folder of its own, created new: no downloaded file can have the output's name (a torrent
  // may hold a "remux-x.mp4"), and ffmpeg overwrites nothing the download brought.
  const work = await fs.mkdtemp(path.join(path.dirname(file.path), ".remux-"));
  const target = path.join(work, name);
  try {
    // Watched for progress: a run quiet for longer than a pass could take is stuck and ends.
    await runTool(tools.ffmpeg, remuxArgs(file.path, target), { signal, timeoutMs: 30 * 60_000, processes: tools.processes, ...progressWatch(file.size) });
  } catch (error) {
    await fs.rm(work, { recursive: true, force: true });
    if (signal.aborted) throw error;
    options.logger.warn({ file: file.name, err: error instanceof Error ? error.message : String(error), stderr: (error as { stderr?: string }).stderr }, "could not remux to MP4; sending the file as it is");
    return file;
  }
  await fs.rm(file.path, { force: true });
  const { size } = await fs.stat(target);
  return { ...file, path: target, name, size };
}

/**
 * Whether an MP4's index (`moov`) comes before its data (`mdat`), from the top-level boxes at its
 * start: a player can start before the whole file arrived only then.
 */
export async function moovFirst(file: string): Promise<boolean> {
  for await (const box of topLevelBoxes(file)) {
    // Not a layout to rewrite: the file goes as it came.
    if (box === "broken" || box.type === "moov") return true;
    if (box.type === "mdat") return false;
  }
  return true;
}

/**
 * Playable parts under the limit, by ffmpeg's segment muxer with stream copy (cuts fall on
 * keyframes). Each part's real size is checked: one that came out too big means cutting again
 * with shorter parts. Undefined when ffmpeg cannot cut it (then it goes in byte parts).
 */
async function cutMedia(tools: MediaTools, file: DeliverableFile, options: PrepareOptions, signal: AbortSignal): Promise<DeliverableFile[] | undefined> {
  const info = await probeMedia(tools, file.path, signal);
  if (!info || info.duration <= 0 || (!info.video && !info.audio)) return undefined;
  // The parts need as much room as the file; it goes once they exist.
  await options.disk.assertRoom(file.size);
  const ext = info.video ? ".mp4" : path.extname(file.name).toLowerCase();
  const stem = path.basename(file.name, path.extname(file.name));
  // Made new for the parts: no downloaded folder is emptied or written into.
  const work = await fs.mkdtemp(path.join(path.dirname(file.path), ".parts-"));
  let seconds = Math.max(1, Math.floor((info.duration * options.limit * 0.9) / file.size));
  for (let attempt = 0; attempt < 5; attempt++) {
    for (const old of await fs.readdir(work)) await fs.rm(path.join(work, old), { force: true });
    try {
      // The folder's own "%" (a torrent's "100%" folder) doubled: only %04d is the pattern.
      const pattern = path.join(work.replaceAll("%", "%%"), `%04d${ext}`);
      await runTool(tools.ffmpeg, cutArgs(file.path, { video: !!info.video, seconds, pattern }), {
        signal,
        timeoutMs: 60 * 60_000,
        processes: tools.processes,
        ...progressWatch(options.limit),
      });
    } catch (error) {
      await fs.rm(work, { recursive: true, force: true });
      if (signal.aborted) throw error;
      options.logger.warn({ file: file.name, err: error instanceof Error ? error.message : String(error), stderr: (error as { stderr?: string }).stderr }, "could not cut the media; sending byte parts");
      return undefined;
    }
    const names = (await fs.readdir(work)).sort();
    const sizes = await Promise.all(names.map(async (n) => (await fs.stat(path.join(work, n))).size));
    if (names.length > 0 && sizes.every((s) => s <= options.limit)) {
      const count = names.length;
      const parts = names.map((n, i) => ({
        path: path.join(work, n),
        name: `${stem}.part${i + 1}of${count}${ext}`,
        size: sizes[i]!,
        partOf: count,
        partIndex: i + 1,
        ...(file.caption ? { caption: file.caption } : {}),
      }));
      await fs.rm(file.path, { force: true });
      return parts;
    }
    // A part came out over the limit (a long stretch between keyframes): cut shorter.
    seconds = Math.max(1, Math.floor(seconds * 0.7));
  }
  await fs.rm(work, { recursive: true, force: true });
  return undefined;
}

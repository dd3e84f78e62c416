import { createReadStream } from "node:fs";
import { link, mkdtemp, open, rm, stat } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { type Api, GrammyError, HttpError, InputFile, InputMediaBuilder } from "grammy";
import type { Message } from "grammy/types";
import { AppError } from "../errors.ts";
import { type MediaTools, makeThumbnail } from "../tools/ffmpeg.ts";
import { probeMedia } from "../tools/ffprobe.ts";
import type { FileUploader, GroupUploader, UploadTransfer } from "../queue/worker-deps.ts";
import type { Item, ItemFile } from "../items/item.ts";
import type { DeliverableFile } from "../sources/source.ts";
import { captionField, fileCaption } from "./views/caption-view.ts";
import { truncate } from "../text/format.ts";
import { replyTo } from "./create-bot.ts";
import { buffersPassed } from "../util/buffer-release.ts";

export type UploadKind = "video" | "audio" | "document";

const VIDEO = new Set([".mp4", ".m4v"]);
const AUDIO = new Set([".mp3", ".m4a", ".ogg", ".oga"]);

/** Which Bot API method a file goes out with. Pure. */
export function chooseUploadKind(name: string, uploadAs: "auto" | "document"): UploadKind {
  if (uploadAs === "document") return "document";
  const ext = path.extname(name).toLowerCase();
  if (VIDEO.has(ext)) return "video";
  if (AUDIO.has(ext)) return "audio";
  return "document";
}

/**
 * Reads the file as a stream, counting bytes as the HTTP client pulls them: that is how far the
 * upload got. A supplier, so every upload attempt (the auto-retry plugin's included) opens a fresh
 * stream instead of reusing a consumed one.
 */
function countingFile(file: DeliverableFile, onBytes: (n: number) => void, ready?: UploadOptions["ready"]): InputFile {
  const start = file.offset ?? 0;
  return new InputFile(() => {
    // A part of a bigger file is its byte range, read straight from the download.
    const range = file.size > 0 ? { start, end: start + file.size - 1 } : {};
    let sent = 0;
    return (async function* () {
      // A file still downloading is read as its bytes reach the disk, never past them.
      const stream = ready ? readAsWritten(file.path, start, file.size, ready) : createReadStream(file.path, { highWaterMark: READ_CHUNK, ...range });
      for await (const chunk of stream) {
        sent += (chunk as Buffer).length;
        buffersPassed((chunk as Buffer).length);
        onBytes(sent);
        yield chunk as Uint8Array;
      }
    })();
  }, file.name);
}

const READ_CHUNK = 256 * 1024;

/** Reads bytes [start, start + size) of a file being written, each chunk once `ready` says it is on disk. */
async function* readAsWritten(file: string, start: number, size: number, ready: NonNullable<UploadOptions["ready"]>): AsyncGenerator<Buffer> {
  const handle = await open(file, "r");
  try {
    for (let at = start; at < start + size; ) {
      const length = Math.min(READ_CHUNK, start + size - at);
      await ready(at, at + length);
      const chunk = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(chunk, 0, length, at);
      if (bytesRead === 0) throw new Error(`${file} ends at ${at}, before ${start + size}`);
      at += bytesRead;
      yield bytesRead === length ? chunk : chunk.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/**
 * A local Bot API server (`localBotApi`) reads a whole file from the disk both share, by its
 * absolute `file://` URL: no byte of it passes through the bot. The name Telegram shows is the
 * file's own, so a file stored under another name is linked (not copied) into the upload's scratch
 * folder as the name to show. A byte range of a bigger file has no path of its own: it streams.
 */
async function localFile(file: DeliverableFile, scratch: Scratch): Promise<string | undefined> {
  if ((file.offset ?? 0) !== 0) return undefined;
  const absolute = path.resolve(file.path);
  if ((await stat(absolute)).size !== file.size) return undefined;
  if (path.basename(absolute) === file.name) return pathToFileURL(absolute).href;
  const named = path.join(await scratch.dir(path.dirname(absolute)), file.name);
  await link(absolute, named);
  return pathToFileURL(named).href;
}

/** The file field of an upload: a local server's path, or the bytes as they are read. */
async function uploadInput(file: DeliverableFile, options: UploadOptions, scratch: Scratch, onBytes: (n: number) => void): Promise<InputFile | string> {
  // A file still downloading never goes by path: the server would read it as it is now.
  const local = options.localBotApi && !options.ready ? await localFile(file, scratch) : undefined;
  return local ?? countingFile(file, onBytes, options.ready);
}

function fileIdOf(message: Message): string | null {
  return message.video?.file_id ?? message.audio?.file_id ?? message.document?.file_id ?? null;
}

export interface UploadOptions {
  uploadAs: "auto" | "document";
  signal?: AbortSignal;
  onBytes?: (sent: number) => void;
  replyTo?: number | null;
  /** ffmpeg/ffprobe: videos and audio then go up with duration, size, tags and a thumbnail. */
  media?: MediaTools;
  /** A local Bot API server on the same disk: whole files and thumbnails go by path. */
  localBotApi?: boolean;
  /** A file still downloading: its body reads each chunk once it is on disk. */
  ready?: UploadTransfer["ready"];
}

/**
 * What Telegram needs to play a video or show an audio file properly (duration, size, tags, a
 * thumbnail), read from the file with ffprobe and ffmpeg. Empty without the tools or for a part
 * of a bigger file; `kind` falls back to a document for a "video" with no picture in it.
 */
async function mediaFields(
  file: DeliverableFile,
  kind: UploadKind,
  options: UploadOptions,
  scratch: Scratch,
): Promise<{ kind: UploadKind; fields: Record<string, unknown> }> {
  const tools = options.media;
  // Without the tools nothing says a video plays, nor how long it is: a document then.
  if (!tools) return { kind: kind === "video" ? "document" : kind, fields: {} };
  if (kind === "document" || (file.offset ?? 0) !== 0) return { kind, fields: {} };
  const info = await probeMedia(tools, file.path, options.signal);
  // A "video" ffprobe cannot read as one (a playlist named .mp4, say) is only a file.
  if (!info) return { kind: kind === "video" ? "document" : kind, fields: {} };
  if (kind === "video" && !info.video) return { kind: "document", fields: {} };
  const withThumb = async (cover: boolean) => {
    const thumbPath = path.join(await scratch.dir(path.dirname(file.path)), `${scratch.next()}.jpg`);
    if (!(await makeThumbnail(tools, file.path, thumbPath, { atSeconds: Math.min(5, info.duration / 10), cover, ...(options.signal ? { signal: options.signal } : {}) }))) return {};
    return { thumbnail: options.localBotApi ? pathToFileURL(path.resolve(thumbPath)).href : new InputFile(thumbPath, "thumb.jpg") };
  };
  if (kind === "video") {
    return {
      kind,
      fields: { duration: info.duration, width: info.video!.width, height: info.video!.height, supports_streaming: true, ...(await withThumb(false)) },
    };
  }
  return {
    kind,
    fields: {
      duration: info.duration,
      ...(info.performer ? { performer: truncate(info.performer, 64) } : {}),
      ...(info.title ? { title: truncate(info.title, 64) } : {}),
      ...(info.cover ? await withThumb(true) : {}),
    },
  };
}

/**
 * A folder for an upload's thumbnails, created new next to the file (on the data disk) when the
 * first one is made and removed after the upload: no name in it can be a downloaded file's (a
 * torrent may hold a "movie.mp4.thumb.jpg"), so ffmpeg overwrites nothing of the download.
 */
class Scratch {
  private made: string | undefined;
  private count = 0;

  async dir(near: string): Promise<string> {
    this.made ??= await mkdtemp(path.join(near, ".thumbs-"));
    return this.made;
  }

  next(): number {
    return ++this.count;
  }

  async remove(): Promise<void> {
    if (this.made) await rm(this.made, { recursive: true, force: true }).catch(() => {});
  }
}

/** Sends one finished file to the chat and returns Telegram's file_id for it. */
export async function uploadFile(api: Api, chatId: number, file: DeliverableFile, options: UploadOptions): Promise<{ fileId: string | null; kind: UploadKind }> {
  const scratch = new Scratch();
  try {
    const media = await mediaFields(file, chooseUploadKind(file.name, options.uploadAs), options, scratch);
    const kind = media.kind;
    const input = await uploadInput(file, options, scratch, options.onBytes ?? (() => {}));
    const common = {
      ...captionField(file.caption),
      ...replyTo(options.replyTo),
    };
    // grammY types its signal with an AbortSignal shim; Node's is the same thing at run time.
    const signal = options.signal as Parameters<Api["sendDocument"]>[3];
    try {
      let message: Message;
      if (kind === "video") {
        message = await api.sendVideo(chatId, input, { supports_streaming: true, ...common, ...media.fields }, signal);
      } else if (kind === "audio") {
        message = await api.sendAudio(chatId, input, { ...common, ...media.fields }, signal);
      } else {
        message = await api.sendDocument(chatId, input, common, signal);
      }
      // By path, nothing counted the bytes: they are all there now.
      if (typeof input === "string") options.onBytes?.(file.size);
      return { fileId: fileIdOf(message), kind };
    } catch (error) {
      throw uploadError(error);
    }
  } finally {
    await scratch.remove();
  }
}

/**
 * Sends 2 to 10 files as one album (`sendMediaGroup`), each with its caption and, for media, what
 * makes it play. Telegram groups documents only with documents and audio only with audio: a group
 * whose files would go as different kinds goes as documents.
 */
export async function uploadGroup(
  api: Api,
  chatId: number,
  files: DeliverableFile[],
  options: UploadOptions,
): Promise<Array<{ fileId: string | null; kind: UploadKind }>> {
  const scratch = new Scratch();
  try {
    const prepared: Array<{ kind: UploadKind; fields: Record<string, unknown> }> = [];
    for (const file of files) prepared.push(await mediaFields(file, chooseUploadKind(file.name, options.uploadAs), options, scratch));
    const uniform = prepared.every((p) => p.kind === prepared[0]!.kind);
    const sent = files.map(() => 0);
    const count = (i: number, n: number) => {
      sent[i] = n;
      options.onBytes?.(sent.reduce((a, b) => a + b, 0));
    };
    const inputs: Array<InputFile | string> = [];
    for (const [i, file] of files.entries()) inputs.push(await uploadInput(file, options, scratch, (n) => count(i, n)));
    const media = files.map((file, i) => {
      const input = inputs[i]!;
      const caption = captionField(file.caption);
      const kind = uniform ? prepared[i]!.kind : "document";
      const fields = uniform ? prepared[i]!.fields : {};
      if (kind === "video") return InputMediaBuilder.video(input, { ...caption, ...fields });
      if (kind === "audio") return InputMediaBuilder.audio(input, { ...caption, ...fields });
      return InputMediaBuilder.document(input, caption);
    });
    const signal = options.signal as Parameters<Api["sendMediaGroup"]>[3];
    try {
      // One kind per album (checked above), which is what the union of media types cannot say.
      const messages = await api.sendMediaGroup(chatId, media as Parameters<Api["sendMediaGroup"]>[1], replyTo(options.replyTo), signal);
      inputs.forEach((input, i) => typeof input === "string" && count(i, files[i]!.size));
      return messages.map((m, i) => ({ fileId: fileIdOf(m), kind: uniform ? prepared[i]!.kind : "document" }));
    } catch (error) {
      throw uploadError(error);
    }
  } finally {
    await scratch.remove();
  }
}

export interface UploaderOptions {
  /** How the chat takes its files (its /settings, or the config's `uploadAs`), asked at each upload. */
  uploadAsIn: (chatId: number) => Promise<"auto" | "document">;
  media?: MediaTools | undefined;
  localBotApi?: boolean;
}

/** What every upload of an item is sent with: its chat's choice, as a reply to its request. */
async function itemUploadOptions(item: Item, options: UploaderOptions, transfer: UploadTransfer): Promise<UploadOptions> {
  return {
    uploadAs: await options.uploadAsIn(item.chatId),
    ...transfer,
    replyTo: item.requestMessageId,
    localBotApi: options.localBotApi ?? false,
    ...(options.media ? { media: options.media } : {}),
  };
}

/** The worker's album step: parts of a big file go to the item's chat together. */
export function createGroupUploader(api: Api, options: UploaderOptions): GroupUploader {
  return async (item, files, transfer) => uploadGroup(api, item.chatId, files.map(asDeliverable), await itemUploadOptions(item, options, transfer));
}

/** The worker's upload step: each file of an item goes to the item's chat, as a reply to its request. */
export function createFileUploader(api: Api, options: UploaderOptions): FileUploader {
  return async (item, file, transfer) => uploadFile(api, item.chatId, asDeliverable(file), await itemUploadOptions(item, options, transfer));
}

/** A recorded file as it goes up, its caption worded here. */
function asDeliverable(file: ItemFile): DeliverableFile {
  const caption = fileCaption(file);
  return { path: file.path, name: file.name, size: file.sizeBytes, offset: file.offset, ...(caption ? { caption } : {}) };
}

/** Telegram's 4xx answers to an upload do not heal (too big, bad file); network trouble may. */
export function uploadError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof GrammyError) {
    const permanent = error.error_code === 400 || error.error_code === 413 || error.error_code === 403;
    const tooBig = error.error_code === 413 || /too (big|large)/i.test(error.description);
    return new AppError("UPLOAD_FAILED", `Telegram refused the upload: ${error.description}`, {
      retryable: !permanent,
      cause: error,
      reason: tooBig ? { kind: "uploadTooBig" } : { kind: "uploadRefused", description: error.description },
    });
  }
  const reason = error instanceof HttpError ? "the connection to Telegram failed" : "the upload failed";
  return new AppError("UPLOAD_FAILED", `${reason}: ${error instanceof Error ? error.message : String(error)}`, {
    retryable: true,
    cause: error,
    reason: { kind: "uploadFailed", connection: error instanceof HttpError },
  });
}

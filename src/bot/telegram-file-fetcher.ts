import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import got from "got";
import { type Api, GrammyError } from "grammy";
import pRetry, { AbortError } from "p-retry";
import { AppError, DownloadError, toAppError } from "../errors.ts";
import { fetchTorrentFile, MAX_TORRENT_FILE_BYTES } from "../sources/torrent/torrent-meta.ts";
import { telegramErrorText } from "./create-bot.ts";

/**
 * The largest .torrent taken from a local Bot API server's disk. The cloud hands out 20 MB at most
 * (and a link's .torrent is capped at MAX_TORRENT_FILE_BYTES); a season pack's can be bigger.
 */
export const LOCAL_TORRENT_FILE_BYTES = 64 * 1024 * 1024;

/** Downloads a file a person sent to the chat, by its file_id. */
export type TelegramFileFetcher = (fileId: string) => Promise<Buffer>;

export interface TelegramFileFetcherOptions {
  apiRoot: string;
  token: string;
  retryDelayMs?: number;
  /**
   * Largest file taken from a local Bot API server's disk or announced by getFile (the only files
   * fetched are .torrent documents). Default MAX_TORRENT_FILE_BYTES, which is also the cap of the
   * cloud path's download (`fetchTorrentFile`).
   */
  maxBytes?: number;
}

/**
 * getFile, then the file itself: from `${apiRoot}/file/bot<token>/<file_path>` (the cloud Bot
 * API), or straight from disk when a local Bot API server (`--local`) answers with an absolute
 * path. The URL carries the token, so it is never logged and never kept in an error. Either way
 * no more than `maxBytes` is read: a local server hands out files of up to 2000 MB.
 */
export function telegramFileFetcher(api: Api, options: TelegramFileFetcherOptions): TelegramFileFetcher {
  const maxBytes = options.maxBytes ?? MAX_TORRENT_FILE_BYTES;
  const plain = got.extend({ retry: { limit: 0 }, timeout: { request: 60_000 } });
  const once = async (fileId: string): Promise<Buffer> => {
    let file: Awaited<ReturnType<Api["getFile"]>>;
    try {
      file = await api.getFile(fileId);
    } catch (error) {
      throw getFileError(error);
    }
    const filePath = file.file_path;
    if (!filePath) throw new AppError("NETWORK", "getFile returned no file_path", { reason: { kind: "telegramNoFile" } });
    if (file.file_size !== undefined && file.file_size > maxBytes) throw tooLarge(file.file_size, maxBytes);
    if (path.isAbsolute(filePath)) return readCapped(filePath, maxBytes);
    try {
      return await fetchTorrentFile(plain, `${options.apiRoot}/file/bot${options.token}/${filePath}`);
    } catch (thrown) {
      const error = toAppError(thrown);
      // A fresh error: got's errors hold the URL, and with it the token.
      throw new AppError(error.code, "downloading the file from Telegram failed", {
        retryable: error.retryable,
        reason: error.code === "TOO_LARGE" ? { kind: "torrentFileTooLarge", size: null, limit: maxBytes } : { kind: "telegramFileUnavailable" },
      });
    }
  };
  // The document is not queued yet, so no queue retry stands behind this fetch: a passing fault
  // gets two quick retries here, and only a lasting one reaches the person.
  return (fileId) =>
    pRetry(
      async () => {
        try {
          return await once(fileId);
        } catch (error) {
          if (error instanceof AppError && !error.retryable) throw new AbortError(error);
          throw error;
        }
      },
      { retries: 2, minTimeout: options.retryDelayMs ?? 1000, factor: 2 },
    );
}

/**
 * Telegram's refusal of getFile as one line for the chat. A 400 does not heal by asking again:
 * the file_id is unknown to it (sent by another bot, say, or expired), or the file is over the
 * 20 MB the cloud Bot API hands out.
 */
function getFileError(error: unknown): AppError {
  const description = telegramErrorText(error);
  if (/too big/i.test(description)) {
    return new AppError("TOO_LARGE", `getFile refused: ${description}`, {
      reason: { kind: "telegramFileTooBig" },
    });
  }
  if (error instanceof GrammyError && error.error_code >= 400 && error.error_code < 500 && error.error_code !== 429) {
    return new AppError("NETWORK", `getFile refused: ${description}`, {
      reason: { kind: "telegramFileRefused", description },
    });
  }
  return new AppError("NETWORK", `getFile failed: ${description}`, {
    retryable: true,
    reason: { kind: "telegramFileUnavailable" },
  });
}

function tooLarge(size: number | undefined, maxBytes: number): DownloadError {
  return new DownloadError("TOO_LARGE", `sent file over ${maxBytes} bytes`, {
    reason: { kind: "torrentFileTooLarge", size: size ?? null, limit: maxBytes },
  });
}

/**
 * A local Bot API server's file, read as a stream and given up past `maxBytes` (the size getFile
 * reported may be missing or stale). Only a regular file: a FIFO or a device would never end.
 */
async function readCapped(file: string, maxBytes: number): Promise<Buffer> {
  let info;
  try {
    info = await stat(file);
  } catch {
    throw new AppError("NETWORK", "the local Bot API server's file is not readable", {
      reason: { kind: "localFileUnreadable" },
    });
  }
  if (!info.isFile()) throw new AppError("NETWORK", "the local Bot API server's file is not a regular file", { reason: { kind: "telegramNoFile" } });
  if (info.size > maxBytes) throw tooLarge(info.size, maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  // One byte past the cap is enough to know it is too large.
  for await (const chunk of createReadStream(file, { start: 0, end: maxBytes })) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw tooLarge(undefined, maxBytes);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

import { readFile } from "node:fs/promises";
import path from "node:path";
import got from "got";
import { type Api, GrammyError } from "grammy";
import pRetry, { AbortError } from "p-retry";
import { AppError, toAppError } from "../errors.ts";
import { fetchTorrentFile } from "../sources/torrent/torrent-meta.ts";

/** Downloads a file a person sent to the chat, by its file_id. */
export type TelegramFileFetcher = (fileId: string) => Promise<Buffer>;

/**
 * getFile, then the file itself: from `${apiRoot}/file/bot<token>/<file_path>` (the cloud Bot
 * API), or straight from disk when a local Bot API server (`--local`) answers with an absolute
 * path. The URL carries the token, so it is never logged and never kept in an error.
 */
export function telegramFileFetcher(
  api: Api,
  options: { apiRoot: string; token: string; retryDelayMs?: number },
): TelegramFileFetcher {
  const plain = got.extend({ retry: { limit: 0 }, timeout: { request: 60_000 } });
  const once = async (fileId: string): Promise<Buffer> => {
    let filePath: string | undefined;
    try {
      filePath = (await api.getFile(fileId)).file_path;
    } catch (error) {
      const description = error instanceof Error ? error.message : String(error);
      const tooBig = /too big/i.test(description);
      throw new AppError("NETWORK", `getFile failed: ${description}`, {
        retryable: !tooBig && !(error instanceof GrammyError && error.error_code === 400),
        userMessage: tooBig
          ? "Telegram does not hand out files that large to bots."
          : "the file could not be fetched from Telegram; send it again in a moment.",
      });
    }
    if (!filePath) throw new AppError("NETWORK", "getFile returned no file_path", { userMessage: "Telegram did not hand out the file." });
    if (path.isAbsolute(filePath)) return readFile(filePath);
    try {
      return await fetchTorrentFile(plain, `${options.apiRoot}/file/bot${options.token}/${filePath}`);
    } catch (thrown) {
      const error = toAppError(thrown);
      // A fresh error: got's errors hold the URL, and with it the token.
      throw new AppError(error.code, "downloading the file from Telegram failed", {
        retryable: error.retryable,
        userMessage: "the file could not be fetched from Telegram; send it again in a moment.",
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

import { writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { type Api, GrammyError } from "grammy";
import { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { telegramErrorText } from "./create-bot.ts";

const CHECK_FILE = ".local-bot-api-check.txt";

/**
 * With `localBotApi`, every upload is a path the local server must read from the disk both share.
 * A server that cannot (another volume, another mount path, another user) would fail every
 * download at its last step, so the start proves it once: the check file is sent by path to the
 * first admin chat, silently, and deleted at once. No Bot API method reads a file without sending
 * it somewhere. An answer about the file stops the start with one line; any other refusal (the
 * chat never started the bot, say) cannot tell, and is logged.
 */
export async function checkLocalServerReads(api: Api, options: { dataDir: string; chatId: number; logger: Logger }): Promise<void> {
  const file = path.join(path.resolve(options.dataDir), CHECK_FILE);
  await writeFile(file, "The bot checks at start that its local Bot API server reads this folder. Safe to delete.\n");
  let sent;
  try {
    sent = await api.sendDocument(options.chatId, pathToFileURL(file).href, { disable_notification: true });
  } catch (error) {
    const refusal = localReadRefusal(error, options.dataDir);
    if (refusal) throw new AppError("STARTUP_FAILED", refusal, { cause: error });
    options.logger.warn({ err: telegramErrorText(error), chatId: options.chatId }, "could not check that the local Bot API server reads dataDir");
    return;
  }
  await api.deleteMessage(options.chatId, sent.message_id).catch((error: unknown) => {
    options.logger.warn({ err: telegramErrorText(error) }, "could not delete the local Bot API check message");
  });
}

/** The one line for an answer that shows the server cannot use the bot's files, else undefined. Pure. */
export function localReadRefusal(error: unknown, dataDir: string): string | undefined {
  if (!(error instanceof GrammyError) || error.error_code !== 400) return undefined;
  const description = error.description;
  // The cloud, or a server started without --local, reads "file://..." as a broken file_id.
  if (/wrong (remote )?file id|wrong character/i.test(description)) {
    return `apiRoot does not take files by path (${description}): with localBotApi, apiRoot must be a telegram-bot-api server started with --local (TELEGRAM_LOCAL=1 in its container).`;
  }
  if (/realpath|file not found|can't open|cannot open|permission|no such file/i.test(description)) {
    return `The local Bot API server cannot read the bot's dataDir ${path.resolve(dataDir)} (${description}): mount the same volume at the same path in both, and run both as the same user (compose.yaml does).`;
  }
  return undefined;
}

import { autoRetry } from "@grammyjs/auto-retry";
import { Bot, type Context } from "grammy";
import type { Logger } from "../logger.ts";

const UPLOAD_METHODS = new Set(["sendDocument", "sendVideo", "sendAudio"]);
/** Methods whose text is ours: always HTML, never with a link preview (unless a call says otherwise). */
const TEXT_METHODS = new Set(["sendMessage", "editMessageText"]);

/** Makes a message a reply to `messageId`, still sent when that message is gone. */
export function replyTo(messageId: number | null | undefined): { reply_parameters?: { message_id: number; allow_sending_without_reply: true } } {
  return messageId ? { reply_parameters: { message_id: messageId, allow_sending_without_reply: true } } : {};
}

export interface CreateBotOptions {
  token: string;
  apiRoot: string;
  logger: Logger;
}

/**
 * The grammY bot with its API plugins. 429s and passing 5xx are retried by the auto-retry plugin
 * for every method but `editMessageText`: progress edits have their own scheduler (MessageEditor),
 * which waits out `retry_after` without holding the transfer or stacking stale edits. Every text
 * the bot sends is HTML without link previews (one transformer, not options at every call site).
 */
export function createBot(options: CreateBotOptions): Bot<Context> {
  const bot = new Bot<Context>(options.token, {
    client: {
      apiRoot: options.apiRoot,
      // Uploads of large files to a local Bot API server can take a while.
      timeoutSeconds: 1800,
    },
  });
  const retry = autoRetry({ maxRetryAttempts: 5, maxDelaySeconds: 600 });
  // Uploads only wait out 429s here; a broken connection or a 5xx fails the attempt, and the
  // queue's schedule retries it from the file on disk (one retry layer per failure).
  const retryUpload = autoRetry({
    maxRetryAttempts: 5,
    maxDelaySeconds: 600,
    rethrowHttpErrors: true,
    rethrowInternalServerErrors: true,
  });
  bot.api.config.use((prev, method, payload, signal) => {
    if (!TEXT_METHODS.has(method)) return prev(method, payload, signal);
    return prev(method, { parse_mode: "HTML", link_preview_options: { is_disabled: true }, ...payload }, signal);
  });
  bot.api.config.use((prev, method, payload, signal) => {
    if (method === "editMessageText") return prev(method, payload, signal);
    if (UPLOAD_METHODS.has(method)) return retryUpload(prev, method, payload, signal);
    return retry(prev, method, payload, signal);
  });
  // The runner polls silently: a lost connection is logged here, once per failed poll.
  bot.api.config.use(async (prev, method, payload, signal) => {
    try {
      return await prev(method, payload, signal);
    } catch (error) {
      if (method === "getUpdates" && !signal?.aborted) {
        options.logger.warn({ err: error instanceof Error ? error.message : String(error) }, "polling Telegram failed; trying again");
      }
      throw error;
    }
  });
  bot.catch((error) => {
    options.logger.error(
      { err: error.error instanceof Error ? error.error.message : String(error.error), updateId: error.ctx.update.update_id },
      "update handler failed",
    );
  });
  return bot;
}

import { autoRetry } from "@grammyjs/auto-retry";
import { Bot, type Context } from "grammy";
import type { Logger } from "../logger.ts";

export interface CreateBotOptions {
  token: string;
  apiRoot: string;
  logger: Logger;
}

/**
 * The grammY bot with its API plugins. 429s and passing 5xx are retried by the auto-retry plugin
 * for every method but `editMessageText`: progress edits have their own scheduler (MessageEditor),
 * which waits out `retry_after` without holding the transfer or stacking stale edits.
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
  bot.api.config.use((prev, method, payload, signal) =>
    method === "editMessageText" ? prev(method, payload, signal) : retry(prev, method, payload, signal),
  );
  bot.catch((error) => {
    options.logger.error(
      { err: error.error instanceof Error ? error.error.message : String(error.error), updateId: error.ctx.update.update_id },
      "update handler failed",
    );
  });
  return bot;
}

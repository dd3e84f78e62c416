import { STATUS_CODES } from "node:http";
import { autoRetry } from "@grammyjs/auto-retry";
import { Bot, type Context, GrammyError, HttpError } from "grammy";
import { AppError } from "../errors.ts";
import { truncate } from "../text/format.ts";
import type { Logger } from "../logger.ts";
import { abortableSleep } from "../util/async.ts";

const UPLOAD_METHODS = new Set(["sendDocument", "sendVideo", "sendAudio", "sendMediaGroup"]);
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
  /**
   * How long polling may meet 409 Conflict (another process polling this bot) before it gives
   * up; default a minute. A deploy's overlap or a stray second start passes within that.
   */
  conflictLimitMs?: number;
}

const CONFLICT_RETRY_MS = [1000, 2000, 5000, 10_000];

/**
 * What Telegram said, for a line in the chat or the log: the error's description, or, when the
 * server sent none, the HTTP name of its code ("Bad Request (400)"); never "undefined".
 */
export function telegramErrorText(error: unknown): string {
  if (error instanceof GrammyError) {
    const description = typeof error.description === "string" ? error.description.trim() : "";
    return description ? truncate(description, 200) : describeCode(error.error_code);
  }
  if (error instanceof HttpError) return "the connection to Telegram failed";
  if (error instanceof Error && error.message) return truncate(error.message, 200);
  return "an unknown error";
}

function describeCode(code: unknown): string {
  if (typeof code !== "number") return "an error without a description";
  return `${STATUS_CODES[code] ?? "error"} (${code})`;
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
  // Registered first, so every other transformer and grammY's GrammyError see the result it
  // gives: an error answer without a description (some Bot API servers other than Telegram's
  // send none) gets one, or its "undefined" would reach logs and chat lines.
  bot.api.config.use(async (prev, method, payload, signal) => {
    const result = await prev(method, payload, signal);
    if (result.ok || (typeof result.description === "string" && result.description.trim() !== "")) return result;
    return { ...result, description: describeCode(result.error_code) };
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
    // Progress edits have their own scheduler; the start-up's getMe its own short retries.
    if (method === "editMessageText" || method === "getMe") return prev(method, payload, signal);
    if (UPLOAD_METHODS.has(method)) return retryUpload(prev, method, payload, signal);
    return retry(prev, method, payload, signal);
  });
  // The runner polls silently: a failed poll is logged here. A 409 (another process polling this
  // bot) is waited out here for a while, since the runner would end polling at the first one.
  const conflictLimitMs = options.conflictLimitMs ?? 60_000;
  bot.api.config.use(async (prev, method, payload, signal) => {
    if (method !== "getUpdates") return prev(method, payload, signal);
    let conflictSince: number | undefined;
    for (let attempt = 0; ; attempt++) {
      let result: Awaited<ReturnType<typeof prev>>;
      try {
        result = await prev(method, payload, signal);
      } catch (error) {
        if (!signal?.aborted) options.logger.warn({ err: error instanceof Error ? error.message : String(error) }, "polling Telegram failed; trying again");
        throw error;
      }
      // Telegram's refusals come back as results here; grammY turns them into errors later.
      if (result.ok || signal?.aborted) return result;
      const err = `${result.error_code}: ${result.description}`;
      if (result.error_code !== 409) {
        options.logger.warn({ err }, "polling Telegram failed");
        return result;
      }
      conflictSince ??= Date.now();
      if (Date.now() - conflictSince >= conflictLimitMs) return result;
      const waitMs = CONFLICT_RETRY_MS[Math.min(attempt, CONFLICT_RETRY_MS.length - 1)]!;
      options.logger.warn({ err, retryInMs: waitMs }, "another process is polling this bot (409 Conflict); trying again");
      await abortableSleep(waitMs, signal as AbortSignal | undefined);
      if (signal?.aborted) return result;
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

/**
 * Asks Telegram who the bot is, as the start's first call: a few tries within about 30 s, then
 * one line that names what to fix. grammY's own `init()` retries a dead `apiRoot` for ever.
 */
export async function identifyBot(bot: Bot<Context>, apiRoot: string, attempts = 3): Promise<void> {
  let reason = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      bot.botInfo = await bot.api.getMe(AbortSignal.timeout(8000) as Parameters<typeof bot.api.getMe>[0]);
      return;
    } catch (error) {
      if (error instanceof GrammyError && (error.error_code === 401 || error.error_code === 404)) {
        throw new AppError("STARTUP_FAILED", `botToken was rejected by Telegram (${error.error_code} ${error.description}): copy the token @BotFather gave you into botToken (or BOT_TOKEN).`, { cause: error });
      }
      if (error instanceof GrammyError) {
        throw new AppError("STARTUP_FAILED", `apiRoot ${apiRoot} answered getMe with ${error.error_code} ${error.description}: check apiRoot.`, { cause: error });
      }
      // Only the cause's code: the message of a failed request holds its URL, and with it the token.
      const cause = (error instanceof HttpError ? error.error : error) as { code?: unknown; name?: unknown } | undefined;
      reason = typeof cause?.code === "string" ? cause.code : cause?.name === "TimeoutError" || cause?.name === "AbortError" ? "no answer within 8 s" : "the connection failed";
      if (attempt < attempts) await new Promise((r) => setTimeout(r, 2000 * attempt));
    }
  }
  throw new AppError("STARTUP_FAILED", `apiRoot ${apiRoot} is unreachable: ${reason}. Check apiRoot and the server's network.`);
}

import { Composer, type Context } from "grammy";
import type { Logger } from "../../logger.ts";

/**
 * The allow-list, registered before every feature: an update from any other chat gets one short
 * refusal (for commands and button presses) and goes no further, so nothing is stored or fetched.
 */
export function accessFeature(allowedChatIds: readonly number[], logger: Logger): Composer<Context> {
  const allowed = new Set(allowedChatIds);
  const composer = new Composer<Context>();
  composer.use(async (ctx, next) => {
    const chatId = ctx.chat?.id ?? ctx.callbackQuery?.message?.chat.id;
    if (chatId !== undefined && allowed.has(chatId)) return next();
    logger.info({ chatId, userId: ctx.from?.id, updateId: ctx.update.update_id }, "update from a chat that is not allowed");
    if (ctx.callbackQuery) {
      await ctx.answerCallbackQuery({ text: "Not allowed" });
      return;
    }
    const message = ctx.message;
    // In a private chat every message is for the bot; in a group only commands and files are.
    const forUs = message?.chat.type === "private" || message?.text?.startsWith("/") || message?.document !== undefined;
    if (message && chatId !== undefined && forUs) {
      await ctx.reply(
        `Sorry, this bot only works in the chats it was set up for. This chat's id is ${chatId}; the bot's owner can add it to allowedChatIds.`,
      );
    }
  });
  return composer;
}

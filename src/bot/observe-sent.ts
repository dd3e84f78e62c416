import type { Bot, Context } from "grammy";

/**
 * The chat's live message is sent anew once other messages pushed it out of sight: `observe` is
 * told of every message in an allowed chat, the bot's own included (an API transformer sees what
 * the bot sends). Strangers' chats (the bot's refusals to them, their messages) are never
 * remembered.
 */
export function observeMessages(bot: Bot<Context>, allowedChatIds: readonly number[], observe: (chatId: number, messageId: number) => void): void {
  const allowedChats = new Set(allowedChatIds);
  bot.api.config.use(async (prev, method, payload, signal) => {
    const result = await prev(method, payload, signal);
    const sent = result.ok ? (result.result as { message_id?: unknown; chat?: { id?: unknown } }) : undefined;
    if (sent && typeof sent.message_id === "number" && typeof sent.chat?.id === "number" && allowedChats.has(sent.chat.id)) {
      observe(sent.chat.id, sent.message_id);
    }
    return result;
  });
}

import type { Api } from "grammy";

/**
 * Tells `observe` of every message the bot sends into an allowed chat (one API transformer):
 * the chat's live message is sent anew once other messages pushed it out of sight, the bot's own
 * included. Strangers' chats (the bot's refusals to them) are never remembered.
 */
export function observeSentMessages(api: Api, allowedChatIds: readonly number[], observe: (chatId: number, messageId: number) => void): void {
  const allowedChats = new Set(allowedChatIds);
  api.config.use(async (prev, method, payload, signal) => {
    const result = await prev(method, payload, signal);
    const sent = result.ok ? (result.result as { message_id?: unknown; chat?: { id?: unknown } }) : undefined;
    if (sent && typeof sent.message_id === "number" && typeof sent.chat?.id === "number" && allowedChats.has(sent.chat.id)) {
      observe(sent.chat.id, sent.message_id);
    }
    return result;
  });
}

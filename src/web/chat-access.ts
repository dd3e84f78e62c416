import type { Api } from "grammy";
import type { Logger } from "../logger.ts";

/** How long a person's chats are remembered: a member who left loses access within this. */
const CACHE_MS = 5 * 60_000;

/**
 * Which of the bot's allowed chats a Mini App user may act as: their private chat with the bot
 * when it is allowed, and every allowed group they are a member of, asked of Telegram with
 * getChatMember and remembered for a few minutes (a page makes many requests).
 */
export class ChatAccess {
  private readonly cache = new Map<number, { chats: number[]; at: number }>();
  /** Look-ups under way: a page's first requests come together and ask Telegram once. */
  private readonly asking = new Map<number, Promise<number[]>>();

  constructor(
    private readonly deps: { api: Pick<Api, "getChatMember">; allowedChatIds: readonly number[]; logger: Logger; now?: () => number },
  ) {}

  /** The allowed chats the user may act as: the private chat first, then groups in config order. */
  async chatsOf(userId: number): Promise<number[]> {
    const now = (this.deps.now ?? Date.now)();
    const cached = this.cache.get(userId);
    if (cached && now - cached.at < CACHE_MS) return cached.chats;
    let asking = this.asking.get(userId);
    if (!asking) {
      asking = this.lookUp(userId, now).finally(() => this.asking.delete(userId));
      this.asking.set(userId, asking);
    }
    return asking;
  }

  private async lookUp(userId: number, now: number): Promise<number[]> {
    const chats: number[] = [];
    let complete = true;
    for (const chatId of this.deps.allowedChatIds) {
      // A private chat's id is its person's id: no one else is in it.
      if (chatId > 0) {
        if (chatId === userId) chats.unshift(chatId);
        continue;
      }
      const member = await this.isMember(chatId, userId);
      if (member === undefined) complete = false;
      else if (member) chats.push(chatId);
    }
    // A group Telegram could not answer for is asked again next time, not remembered as refused.
    if (complete) this.cache.set(userId, { chats, at: now });
    return chats;
  }

  /** true or false as Telegram says; undefined when it could not be asked. */
  private async isMember(chatId: number, userId: number): Promise<boolean | undefined> {
    try {
      const member = await this.deps.api.getChatMember(chatId, userId);
      return ["creator", "administrator", "member"].includes(member.status) || (member.status === "restricted" && member.is_member);
    } catch (error) {
      const code = (error as { error_code?: unknown }).error_code;
      // 400 (no such user in the chat) and 403 (the bot is not in the group): not a member.
      if (code === 400 || code === 403) return false;
      this.deps.logger.warn({ chatId, err: error instanceof Error ? error.message : String(error) }, "could not ask Telegram about a chat member");
      return undefined;
    }
  }
}

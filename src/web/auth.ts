import type { IncomingHttpHeaders } from "node:http";
import type { ApiTokens } from "./api-tokens.ts";
import type { ChatAccess } from "./chat-access.ts";
import { HttpFailure } from "./http-errors.ts";
import { type InitDataCheck, checkInitData } from "./init-data.ts";

/**
 * Who is asking, and as which chat. An API token acts as its one chat; a Mini App user as one of
 * the chats they may use (the `X-Chat-Id` header picks it, else their first). Either way the
 * caller sees and touches only that chat's items, as the chat itself does with commands.
 */
export interface Caller {
  via: "token" | "miniapp";
  chatId: number;
  /** Every chat the caller may act as (a token: its one). */
  chatIds: number[];
  /** Who the items it queues belong to; null when not known. */
  userId: number | null;
  /** What the rate limit counts by. */
  key: string;
  /** The Mini App user's name, for the page. */
  name?: string;
  /** A chat the Mini App was opened for (a group's link), when the caller may use it. */
  startChatId?: number;
}

export interface AuthDeps {
  tokens: ApiTokens;
  access: ChatAccess;
  /** The bot's Mini App key (`initDataKey`). */
  initDataKey: Buffer;
  now?: () => number;
}

const unauthorized = (message: string) => new HttpFailure(401, "UNAUTHORIZED", message);

/** A Mini App link's start parameter for a chat (`c123`, `cm100123` for -100123), and back. */
export const chatStartParam = (chatId: number): string => `c${chatId < 0 ? `m${-chatId}` : chatId}`;
function chatOfStartParam(param: string | undefined): number | undefined {
  const match = param ? /^c(m?)(\d{1,16})$/.exec(param) : null;
  return match ? (match[1] ? -1 : 1) * Number(match[2]) : undefined;
}

const REFUSED: Record<Exclude<InitDataCheck, { ok: true }>["why"], string> = {
  malformed: "the Mini App's sign-in data could not be read: open the page from the bot in Telegram",
  "bad-signature": "the Mini App's sign-in data is not signed by this bot: open the page from the bot in Telegram",
  expired: "the Mini App's sign-in data is older than a day: open the page again from the bot in Telegram",
  "no-user": "the Mini App's sign-in data names no user: open the page from the bot in Telegram",
};

export class Authenticator {
  constructor(private readonly deps: AuthDeps) {}

  /** The caller of a request, or the failure to answer (401, 403). */
  async caller(headers: IncomingHttpHeaders): Promise<Caller> {
    const header = headers.authorization ?? "";
    const space = header.indexOf(" ");
    const scheme = header.slice(0, space).toLowerCase();
    const credential = header.slice(space + 1).trim();
    if (space < 0 || !credential) throw unauthorized("send an API token (Authorization: Bearer <token>, from /apitoken in the chat)");
    if (scheme === "bearer") {
      const owner = await this.deps.tokens.verify(credential);
      if (!owner) throw unauthorized("this API token is not valid (revoked, or never made): make one with /apitoken in the chat");
      return { via: "token", chatId: owner.chatId, chatIds: [owner.chatId], userId: owner.userId, key: `token:${owner.tokenId}` };
    }
    if (scheme === "tma") return this.miniAppCaller(credential, headers["x-chat-id"]);
    throw unauthorized("expected Authorization: Bearer <API token>");
  }

  private async miniAppCaller(initData: string, chatHeader: string | string[] | undefined): Promise<Caller> {
    const nowS = Math.floor((this.deps.now ?? Date.now)() / 1000);
    const check = checkInitData(initData, this.deps.initDataKey, nowS);
    if (!check.ok) throw unauthorized(REFUSED[check.why]);
    const chatIds = await this.deps.access.chatsOf(check.user.id);
    if (chatIds.length === 0) throw new HttpFailure(403, "FORBIDDEN", "you are in none of the chats this bot works for");
    const wanted = typeof chatHeader === "string" && /^-?\d{1,16}$/.test(chatHeader) ? Number(chatHeader) : undefined;
    if (chatHeader !== undefined && (wanted === undefined || !chatIds.includes(wanted))) {
      throw new HttpFailure(403, "FORBIDDEN", "you cannot act as that chat");
    }
    const start = chatOfStartParam(check.startParam);
    return {
      via: "miniapp",
      chatId: wanted ?? chatIds[0]!,
      chatIds,
      userId: check.user.id,
      key: `user:${check.user.id}`,
      name: check.user.firstName,
      ...(start !== undefined && chatIds.includes(start) ? { startChatId: start } : {}),
    };
  }
}

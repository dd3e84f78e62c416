import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { deleteChatApiTokens, findApiToken, insertApiToken } from "../db/api-token-repository.ts";
import type { Db } from "../db/database.ts";

/**
 * The web API's tokens. A token is `dlb_<id>_<secret>`: the id finds its row, the secret (32
 * random bytes) is what proves it. Only the secret's SHA-256 is stored, and it is compared in
 * constant time, so neither the database nor the time an answer takes gives a token away.
 */
const TOKEN = /^dlb_([1-9]\d{0,14})_([A-Za-z0-9_-]{43})$/;

/** Whom a token acts for: its chat, as the person who made it. */
export interface TokenOwner {
  tokenId: number;
  chatId: number;
  /** Who sent /apitoken (the items it queues are theirs); null when not known. */
  userId: number | null;
}

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

/** Compared against when no row matches, so a wrong id takes as long as a wrong secret. */
const NOTHING = sha256("");

export class ApiTokens {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new token for the chat; the only time it exists outside the person's hands. */
  async create(chatId: number, userId: number | null): Promise<string> {
    const secret = randomBytes(32).toString("base64url");
    const id = await insertApiToken(this.db, { chatId, tokenHash: sha256(secret).toString("hex"), createdBy: userId }, this.now());
    return `dlb_${id}_${secret}`;
  }

  /** Ends every token of the chat; how many there were. */
  revoke(chatId: number): Promise<number> {
    return deleteChatApiTokens(this.db, chatId);
  }

  /** Whom the token acts for; undefined for anything that is not a live token. */
  async verify(token: string): Promise<TokenOwner | undefined> {
    const match = TOKEN.exec(token);
    if (!match) return undefined;
    const stored = await findApiToken(this.db, Number(match[1]));
    const expected = stored ? Buffer.from(stored.tokenHash, "hex") : NOTHING;
    const given = sha256(match[2]!);
    const same = expected.length === given.length && timingSafeEqual(expected, given);
    return same && stored ? { tokenId: stored.id, chatId: stored.chatId, userId: stored.createdBy } : undefined;
  }
}

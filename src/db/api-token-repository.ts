import type { Generated } from "kysely";
import type { Db } from "./database.ts";

/**
 * The web API's tokens (migration 017). The table is known to this repository alone, so its type
 * lives here and the rest of the schema does not change for it: `withTables` adds it to the
 * database's type for these queries only.
 */
export interface ApiTokensTable {
  id: Generated<number>;
  chat_id: number;
  /** Hex SHA-256 of the whole token; the token itself is never stored. */
  token_hash: string;
  created_by: number | null;
  created_at: number;
}

/** A stored token, without anything that would let someone use it. */
export interface StoredApiToken {
  id: number;
  chatId: number;
  tokenHash: string;
  createdBy: number | null;
  createdAt: number;
}

const tokens = (db: Db) => db.withTables<{ api_tokens: ApiTokensTable }>();

/** Stores a new token's hash for the chat; its id (the token names it). */
export async function insertApiToken(db: Db, token: { chatId: number; tokenHash: string; createdBy: number | null }, now: number): Promise<number> {
  const row = await tokens(db)
    .insertInto("api_tokens")
    .values({ chat_id: token.chatId, token_hash: token.tokenHash, created_by: token.createdBy, created_at: now })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}

/** The token stored under `id`, if it was not revoked. */
export async function findApiToken(db: Db, id: number): Promise<StoredApiToken | undefined> {
  const row = await tokens(db).selectFrom("api_tokens").selectAll().where("id", "=", id).executeTakeFirst();
  return row && { id: row.id, chatId: row.chat_id, tokenHash: row.token_hash, createdBy: row.created_by, createdAt: row.created_at };
}

/** Ends every token of the chat; how many there were. */
export async function deleteChatApiTokens(db: Db, chatId: number): Promise<number> {
  const result = await tokens(db).deleteFrom("api_tokens").where("chat_id", "=", chatId).executeTakeFirst();
  return Number(result.numDeletedRows);
}

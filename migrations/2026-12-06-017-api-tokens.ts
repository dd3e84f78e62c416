import type { Kysely } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
export async function up(db: Kysely<any>): Promise<void> {
  // The web API's tokens (/apitoken): each bound to one chat, acting as that chat. Only the
  // SHA-256 of a token is kept, never the token: it is shown once, when it is made. The token
  // names its row's id, so a request finds its row by id and compares the hash in constant time.
  await db.schema
    .createTable("api_tokens")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("chat_id", "integer", (c) => c.notNull())
    .addColumn("token_hash", "text", (c) => c.notNull())
    // Who asked for it in the chat (null: not known); the items it queues are theirs.
    .addColumn("created_by", "integer")
    .addColumn("created_at", "integer", (c) => c.notNull())
    .execute();
  // `/apitoken revoke` ends every token of a chat at once.
  await db.schema.createIndex("api_tokens_chat").on("api_tokens").column("chat_id").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("api_tokens").execute();
}

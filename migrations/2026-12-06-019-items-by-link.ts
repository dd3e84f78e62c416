import { sql, type Kysely } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
export async function up(db: Kysely<any>): Promise<void> {
  // `/download` looks for the chat's last delivery of the same link (to send it again by file_id).
  // No index had the link in it (the finished items' partial index is by chat and time), so it
  // walked the chat's whole history: 11 ms at 100,000 finished items, most of `/download`'s answer time.
  // The link comes first: an index that starts with chat_id would be SQLite's pick for every
  // query of one chat (it has no statistics), and the chat's open items would then be read
  // from its whole history (0.1 ms to 15 ms).
  await sql`create index items_url_chat on items (url, chat_id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index items_url_chat`.execute(db);
}

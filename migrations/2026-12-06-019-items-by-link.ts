import { sql, type Kysely } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
export async function up(db: Kysely<any>): Promise<void> {
  // `/download` looks for the chat's last delivery of the same link (to send it again by file_id).
  // The partial indexes on items cannot serve it (its status is a bound parameter), so it walked
  // the chat's whole history: 11 ms at 100,000 finished items, most of `/download`'s answer time.
  await sql`create index items_chat_url on items (chat_id, url)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index items_chat_url`.execute(db);
}

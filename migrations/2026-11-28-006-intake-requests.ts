import { type Kysely, sql } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
export async function up(db: Kysely<any>): Promise<void> {
  // A /download, /torrent or .torrent is stored here the moment it arrives, before its links are
  // checked (a HEAD can take a minute): a crash in between loses nothing, and the checks run
  // outside the chat's turn. A row goes once its item is stored.
  await db.schema
    .createTable("intake_requests")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("chat_id", "integer", (c) => c.notNull())
    .addColumn("user_id", "integer")
    .addColumn("request_message_id", "integer")
    .addColumn("kind", "text", (c) => c.notNull().check(sql`kind in ('link', 'torrent', 'document')`))
    .addColumn("text", "text", (c) => c.notNull())
    .addColumn("fresh", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "integer", (c) => c.notNull())
    .execute();

  // Which request an item was stored for: a request checked again after a crash finds its item
  // instead of storing a second one.
  await db.schema.alterTable("items").addColumn("request_id", "integer").execute();
  await sql`create unique index items_request on items (request_id) where request_id is not null`.execute(db);

  // A finished item's progress message is settled (shows its final line) once progress_message_id
  // is cleared; the message stays findable for replies through item_messages. Everything finished
  // before this version counts as settled.
  await sql`insert or ignore into item_messages (chat_id, message_id, item_id, created_at)
    select chat_id, progress_message_id, id, coalesce(finished_at, updated_at) from items
    where progress_message_id is not null and status in ('completed', 'failed', 'cancelled')`.execute(db);
  await sql`update items set progress_message_id = null where status in ('completed', 'failed', 'cancelled')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists items_request`.execute(db);
  await db.schema.alterTable("items").dropColumn("request_id").execute();
  await db.schema.dropTable("intake_requests").execute();
}

import { type Kysely, sql } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
export async function up(db: Kysely<any>): Promise<void> {
  // Which chat message shows an item's progress is the Telegram side's business, not the queue
  // item's: it moves out of `items` into a table of its own.
  await db.schema
    .createTable("live_messages")
    .addColumn("item_id", "integer", (c) => c.primaryKey().references("items.id").onDelete("cascade"))
    .addColumn("message_id", "integer", (c) => c.notNull())
    .execute();
  await sql`insert into live_messages (item_id, message_id) select id, progress_message_id from items where progress_message_id is not null`.execute(db);
  await sql`alter table items drop column progress_message_id`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table items add column progress_message_id integer`.execute(db);
  await sql`update items set progress_message_id = (select message_id from live_messages where live_messages.item_id = items.id)`.execute(db);
  await db.schema.dropTable("live_messages").execute();
}

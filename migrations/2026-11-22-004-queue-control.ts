import { type Kysely, sql } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
export async function up(db: Kysely<any>): Promise<void> {
  // Small switches that must survive a restart, such as the whole queue being paused.
  await db.schema
    .createTable("settings")
    .addColumn("key", "text", (c) => c.primaryKey())
    .addColumn("value", "text", (c) => c.notNull())
    .addColumn("updated_at", "integer", (c) => c.notNull())
    .execute();

  // Bot messages about an item besides its progress message (the "Queued" acknowledgement, the
  // failure note), so a reply to any of them with /cancel or /retry finds the item.
  await db.schema
    .createTable("item_messages")
    .addColumn("chat_id", "integer", (c) => c.notNull())
    .addColumn("message_id", "integer", (c) => c.notNull())
    .addColumn("item_id", "integer", (c) => c.notNull().references("items.id").onDelete("cascade"))
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addPrimaryKeyConstraint("item_messages_pk", ["chat_id", "message_id", "item_id"])
    .execute();

  // /history and the re-send of an already delivered URL look up finished items of a chat.
  await sql`create index items_chat_finished on items (chat_id, finished_at)
    where status in ('completed', 'failed', 'cancelled')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists items_chat_finished`.execute(db);
  await db.schema.dropTable("item_messages").execute();
  await db.schema.dropTable("settings").execute();
}

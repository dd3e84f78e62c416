import type { Kysely } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
export async function up(db: Kysely<any>): Promise<void> {
  // What each chat chose with /settings: one row per chat that changed anything, one column per
  // setting. A null column is a setting the chat never changed, so it follows the config file's
  // default (also after the config changes). No CHECK on the values: a later version may add a
  // choice, and SQLite cannot change a CHECK without rebuilding the table; the repository reads a
  // value it does not know as the default.
  await db.schema
    .createTable("chat_settings")
    .addColumn("chat_id", "integer", (c) => c.primaryKey())
    .addColumn("ask_before_download", "text")
    .addColumn("quality_cap", "text")
    .addColumn("upload_as", "text")
    .addColumn("split_style", "text")
    .addColumn("updated_at", "integer", (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("chat_settings").execute();
}

import { type Kysely, sql } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("items")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("chat_id", "integer", (c) => c.notNull())
    .addColumn("user_id", "integer")
    .addColumn("request_message_id", "integer")
    .addColumn("url", "text", (c) => c.notNull())
    .addColumn("source_kind", "text", (c) => c.notNull().check(sql`source_kind in ('direct', 'torrent', 'crawler')`))
    .addColumn("title", "text", (c) => c.notNull())
    .addColumn("size_bytes", "integer")
    .addColumn("status", "text", (c) =>
      c
        .notNull()
        .check(sql`status in ('queued', 'downloading', 'uploading', 'paused', 'completed', 'failed', 'cancelled')`),
    )
    .addColumn("priority", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "integer", (c) => c.notNull())
    .addColumn("bytes_done", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("downloaded", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("last_error", "text")
    .addColumn("error_code", "text")
    .addColumn("local_path", "text")
    .addColumn("etag", "text")
    .addColumn("last_modified", "text")
    .addColumn("file_id", "text")
    .addColumn("upload_kind", "text")
    .addColumn("progress_message_id", "integer")
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addColumn("updated_at", "integer", (c) => c.notNull())
    .addColumn("started_at", "integer")
    .addColumn("finished_at", "integer")
    .execute();

  // The worker's pick: ready items by priority, then oldest first.
  await db.schema
    .createIndex("items_ready")
    .on("items")
    .columns(["status", "priority", "next_attempt_at", "id"])
    .execute();

  // The same URL is never waiting or active twice in one chat: a rule of the data, not only of code.
  await sql`create unique index items_active_url on items (chat_id, url)
    where status in ('queued', 'downloading', 'uploading', 'paused')`.execute(db);

  // The files an item delivers (one for a direct link, several for a torrent), recorded once the
  // download is complete, each with its Telegram file_id once uploaded: a restart uploads only
  // what is missing.
  await db.schema
    .createTable("item_files")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("item_id", "integer", (c) => c.notNull().references("items.id").onDelete("cascade"))
    .addColumn("position", "integer", (c) => c.notNull())
    .addColumn("path", "text", (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("size_bytes", "integer", (c) => c.notNull())
    .addColumn("caption", "text")
    .addColumn("file_id", "text")
    .addColumn("upload_kind", "text")
    .addColumn("uploaded_at", "integer")
    .addUniqueConstraint("item_files_item_position", ["item_id", "position"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("item_files").execute();
  await db.schema.dropTable("items").execute();
}

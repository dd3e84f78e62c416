import { type Kysely, sql } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
//
// A fact is stored once: what an item delivered (paths, Telegram file_ids, how each was sent)
// lives in item_files only, and "the download is on disk" is the existence of those rows. The
// columns of items that copied them go; a delivery recorded only in them (by an early version)
// moves into item_files first, so it can still be re-sent by file_id.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`insert into item_files (item_id, position, path, name, size_bytes, caption, file_id, upload_kind, uploaded_at)
    select id, 0, coalesce(local_path, ''), title, coalesce(size_bytes, 0), null, file_id, upload_kind, coalesce(finished_at, updated_at)
    from items
    where file_id is not null and not exists (select 1 from item_files f where f.item_id = items.id)`.execute(db);
  // A downloaded item without file rows cannot be uploaded from anything: download it again.
  await sql`update items set bytes_done = 0
    where downloaded = 1 and status in ('queued', 'downloading', 'uploading', 'paused')
    and not exists (select 1 from item_files f where f.item_id = items.id)`.execute(db);
  // A resume after this point starts the partial download over: its path was in local_path.
  for (const column of ["file_id", "upload_kind", "local_path", "downloaded"]) {
    await db.schema.alterTable("items").dropColumn(column).execute();
  }
  // "Downloaded" is now read through item_files' unique (item_id, position) index.
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("items").addColumn("downloaded", "integer", (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable("items").addColumn("local_path", "text").execute();
  await db.schema.alterTable("items").addColumn("upload_kind", "text").execute();
  await db.schema.alterTable("items").addColumn("file_id", "text").execute();
  await sql`update items set downloaded = 1 where exists (select 1 from item_files f where f.item_id = items.id)`.execute(db);
}

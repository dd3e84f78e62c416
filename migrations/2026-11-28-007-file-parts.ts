import type { Kysely } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
export async function up(db: Kysely<any>): Promise<void> {
  // A file over the upload limit goes up in parts; a part is a byte range of the downloaded
  // file (no copy on disk), each with its own row, name, caption and file_id.
  await db.schema.alterTable("item_files").addColumn("byte_offset", "integer", (c) => c.notNull().defaultTo(0)).execute();
  // How many parts the file it is a part of was cut into (null for a whole file): parts go up
  // together as albums.
  await db.schema.alterTable("item_files").addColumn("part_of", "integer").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("item_files").dropColumn("part_of").execute();
  await db.schema.alterTable("item_files").dropColumn("byte_offset").execute();
}

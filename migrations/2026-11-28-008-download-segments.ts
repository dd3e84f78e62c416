import type { Kysely } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
export async function up(db: Kysely<any>): Promise<void> {
  // A file fetched over several connections is written in parts [start_byte, end_byte), each by
  // its own connection. How far each part got is kept here (not only in memory), so a retry,
  // pause or restart resumes every part from its own bytes. A row never claims more than the
  // file on disk holds: it is written after the bytes are.
  await db.schema
    .createTable("download_segments")
    .addColumn("item_id", "integer", (c) => c.notNull())
    .addColumn("position", "integer", (c) => c.notNull())
    .addColumn("start_byte", "integer", (c) => c.notNull())
    .addColumn("end_byte", "integer", (c) => c.notNull())
    .addColumn("done_bytes", "integer", (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint("download_segments_pk", ["item_id", "position"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("download_segments").execute();
}

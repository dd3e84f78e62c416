import { sql, type Kysely } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
export async function up(db: Kysely<any>): Promise<void> {
  // A part's number and, on a byte split's first part, the name its parts join back into: the
  // Telegram side words the caption from these ("Part 1 of 3. Join the 3 parts with ..."). Parts
  // recorded before keep the caption text they were stored with.
  await sql`alter table item_files add column part_index integer`.execute(db);
  await sql`alter table item_files add column join_as text`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table item_files drop column join_as`.execute(db);
  await sql`alter table item_files drop column part_index`.execute(db);
}

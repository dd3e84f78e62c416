import { sql, type Kysely } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
export async function up(db: Kysely<any>): Promise<void> {
  // Byte parts of a file still downloading are recorded (and go up) as their ranges reach the
  // disk: such rows are `pending` until the whole file is there. An item is "downloaded" once it
  // has files none of which is pending; every row stored before is a finished download's.
  await sql`alter table item_files add column pending integer not null default 0`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table item_files drop column pending`.execute(db);
}

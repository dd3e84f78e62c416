import { sql, type Kysely } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
export async function up(db: Kysely<any>): Promise<void> {
  // items.last_error holds why the last attempt failed as data (JSON, with a "kind"), worded by
  // whoever shows it. What earlier versions stored is a sentence: kept as it was, as a "legacy"
  // reason, so an upgraded database still shows it.
  await sql`update items set last_error = json_object('kind', 'legacy', 'text', last_error) where last_error is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  // Back to text: a legacy reason is its sentence again; any other reason has no sentence this
  // migration could write, and stays as its JSON (shown as it is by the version before).
  await sql`update items set last_error = json_extract(last_error, '$.text')
    where json_valid(last_error) and json_extract(last_error, '$.kind') = 'legacy'`.execute(db);
}

import { type Kysely, type RawBuilder, sql } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
//
// Streams (HLS, DASH) and sites yt-dlp knows become sources of their own, chosen by reroute like
// pages and torrents, so an item may be stored with source_kind 'stream' or 'site'. SQLite cannot
// alter a CHECK: the table is rebuilt by its documented procedure
// (https://www.sqlite.org/lang_altertable.html#otheralter), from its own CREATE TABLE with only the
// CHECK changed, so every column later migrations added stays as it is.

const WIDE = ["direct", "torrent", "crawler", "stream", "site"];
const NARROW = ["direct", "torrent", "crawler"];

export async function up(db: Kysely<any>): Promise<void> {
  await rebuildItems(db, WIDE);
}

export async function down(db: Kysely<any>): Promise<void> {
  // What the version before knows: a stream or a site is a direct link, which finds its way again.
  await rebuildItems(db, NARROW, sql`update items set source_kind = 'direct' where source_kind in ('stream', 'site')`);
}

/**
 * Rebuilds `items` with `source_kind in (kinds)`. Kysely runs SQLite migrations outside any
 * transaction (its SQLite adapter has no transactional DDL) on one connection, which is what the
 * procedure needs: foreign keys can only be switched off outside a transaction, and must be, or
 * dropping the old table would delete every row that references it (item_files, live_messages...).
 */
async function rebuildItems(db: Kysely<any>, kinds: string[], before?: RawBuilder<unknown>): Promise<void> {
  const foreignKeys = await pragmaValue(db, sql`pragma foreign_keys`);
  if (foreignKeys) {
    await sql`pragma foreign_keys = off`.execute(db);
    if (await pragmaValue(db, sql`pragma foreign_keys`)) throw new Error("items can only be rebuilt outside a transaction");
  }
  try {
    await sql`begin immediate`.execute(db);
    try {
      const violations = foreignKeys ? await itemViolations(db) : "";
      if (before) await before.execute(db);
      const schema = await sql<{ type: string; name: string; tbl_name: string; sql: string | null }>`
        select type, name, tbl_name, sql from sqlite_master where sql is not null`.execute(db);
      const table = schema.rows.find((r) => r.type === "table" && r.name === "items");
      if (!table?.sql) throw new Error("no items table");
      // Indexes and triggers go with the old table; views would not survive the rename: all are made again.
      const attached = schema.rows.filter((r) => (r.type === "index" || r.type === "trigger") && r.tbl_name === "items");
      const views = schema.rows.filter((r) => r.type === "view");
      const sequence = await sql<{ seq: number }>`select seq from sqlite_sequence where name = 'items'`.execute(db);

      await sql.raw(newTableSql(table.sql, kinds)).execute(db);
      const columns = (await sql<{ name: string }>`pragma table_info(items)`.execute(db)).rows.map((c) => `"${c.name}"`).join(", ");
      await sql.raw(`insert into items_new (${columns}) select ${columns} from items`).execute(db);
      for (const view of views) await sql.raw(`drop view "${view.name}"`).execute(db);
      await sql`drop table items`.execute(db);
      await sql`alter table items_new rename to items`.execute(db);
      for (const row of [...attached, ...views]) await sql.raw(row.sql!).execute(db);
      // Ids are never handed out twice (AUTOINCREMENT): the counter goes on from where it was.
      const seq = sequence.rows[0]?.seq;
      if (seq !== undefined) await sql`update sqlite_sequence set seq = max(seq, ${seq}) where name = 'items'`.execute(db);

      if (foreignKeys && (await itemViolations(db)) !== violations) throw new Error("rebuilding items broke a foreign key");
      await sql`commit`.execute(db);
    } catch (error) {
      await sql`rollback`.execute(db).catch(() => {});
      throw error;
    }
  } finally {
    if (foreignKeys) await sql`pragma foreign_keys = on`.execute(db);
  }
}

/** The items table's CREATE TABLE as `items_new`, with the source_kind CHECK listing `kinds`. */
function newTableSql(create: string, kinds: string[]): string {
  const named = create.replace(/^\s*create\s+table\s+("items"|'items'|`items`|\[items\]|items)(?=\s*\()/i, `CREATE TABLE "items_new"`);
  const check = /\bsource_kind\s+in\s*\([^)]*\)/gi;
  const found = named.match(check);
  if (named === create || found?.length !== 1) throw new Error(`unexpected items table: ${create}`);
  return named.replace(check, `source_kind in (${kinds.map((k) => `'${k}'`).join(", ")})`);
}

async function pragmaValue(db: Kysely<any>, query: RawBuilder<unknown>): Promise<number> {
  const row = (await query.execute(db)).rows[0] as Record<string, unknown> | undefined;
  return Number(row ? Object.values(row)[0] : 0);
}

/** The rows whose reference to an item is broken, as one comparable string. */
async function itemViolations(db: Kysely<any>): Promise<string> {
  const rows = (await sql<{ table: string; rowid: number | null; parent: string }>`pragma foreign_key_check`.execute(db)).rows;
  return JSON.stringify(rows.filter((r) => r.parent === "items").map((r) => `${r.table}:${r.rowid}`).sort());
}

import { type Kysely, type RawBuilder, sql } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
//
// Items that wait for a choice (which files of a torrent, which quality of a video): a status of
// their own, 'choosing', which keeps the item's URL open in its chat like any waiting item; what
// was offered, the choice (a draft while choosing) and when the question times out, as columns
// (JSON for the first two). `choice_messages` is the Telegram side's record of the message that
// asks, and the page of the file list it shows. The CHECK on status changes by the rebuild
// migration 012 uses (SQLite cannot alter a CHECK).

const STATUSES = ["queued", "downloading", "uploading", "paused", "completed", "failed", "cancelled"];
const OPEN = ["queued", "downloading", "uploading", "paused"];

export async function up(db: Kysely<any>): Promise<void> {
  await rebuildItems(db, [...STATUSES, "choosing"], [...OPEN, "choosing"]);
  await db.schema.alterTable("items").addColumn("choice_offer", "text").execute();
  await db.schema.alterTable("items").addColumn("choice", "text").execute();
  await db.schema.alterTable("items").addColumn("choice_deadline", "integer").execute();
  await db.schema
    .createTable("choice_messages")
    .addColumn("item_id", "integer", (c) => c.primaryKey().references("items.id").onDelete("cascade"))
    .addColumn("chat_id", "integer", (c) => c.notNull())
    .addColumn("message_id", "integer", (c) => c.notNull())
    .addColumn("page", "integer", (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("choice_messages").execute();
  // What the version before knows: an item that waits for a choice goes on with every file that fits.
  await rebuildItems(db, STATUSES, OPEN, sql`update items set status = 'queued' where status = 'choosing'`);
  for (const column of ["choice_offer", "choice", "choice_deadline"]) await db.schema.alterTable("items").dropColumn(column).execute();
}

/**
 * Rebuilds `items` with `status in (statuses)` (and the open-URL index counting `open` as open),
 * as migration 012 does for source_kind. Kysely runs SQLite migrations outside any
 * transaction (its SQLite adapter has no transactional DDL) on one connection, which is what the
 * procedure needs: foreign keys can only be switched off outside a transaction, and must be, or
 * dropping the old table would delete every row that references it (item_files, live_messages...).
 */
async function rebuildItems(db: Kysely<any>, statuses: string[], open: string[], before?: RawBuilder<unknown>): Promise<void> {
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

      await sql.raw(newTableSql(table.sql, statuses)).execute(db);
      const columns = (await sql<{ name: string }>`pragma table_info(items)`.execute(db)).rows.map((c) => `"${c.name}"`).join(", ");
      await sql.raw(`insert into items_new (${columns}) select ${columns} from items`).execute(db);
      for (const view of views) await sql.raw(`drop view "${view.name}"`).execute(db);
      await sql`drop table items`.execute(db);
      await sql`alter table items_new rename to items`.execute(db);
      for (const row of [...attached, ...views]) await sql.raw(row.name === "items_active_url" ? openIndexSql(row.sql!, open) : row.sql!).execute(db);
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

/** The items table's CREATE TABLE as `items_new`, with the status CHECK listing `statuses`. */
function newTableSql(create: string, statuses: string[]): string {
  const named = create.replace(/^\s*create\s+table\s+("items"|'items'|`items`|\[items\]|items)(?=\s*\()/i, `CREATE TABLE "items_new"`);
  const check = /\bstatus\s+in\s*\([^)]*\)/gi;
  const found = named.match(check);
  if (named === create || found?.length !== 1) throw new Error(`unexpected items table: ${create}`);
  return named.replace(check, `status in (${list(statuses)})`);
}

/** The index that keeps a URL open once per chat, counting `open` statuses as open. */
function openIndexSql(create: string, open: string[]): string {
  const where = /\bstatus\s+in\s*\([^)]*\)/gi;
  if (create.match(where)?.length !== 1) throw new Error(`unexpected items_active_url index: ${create}`);
  return create.replace(where, `status in (${list(open)})`);
}

const list = (values: string[]) => values.map((v) => `'${v}'`).join(", ");

async function pragmaValue(db: Kysely<any>, query: RawBuilder<unknown>): Promise<number> {
  const row = (await query.execute(db)).rows[0] as Record<string, unknown> | undefined;
  return Number(row ? Object.values(row)[0] : 0);
}

/** The rows whose reference to an item is broken, as one comparable string. */
async function itemViolations(db: Kysely<any>): Promise<string> {
  const rows = (await sql<{ table: string; rowid: number | null; parent: string }>`pragma foreign_key_check`.execute(db)).rows;
  return JSON.stringify(rows.filter((r) => r.parent === "items").map((r) => `${r.table}:${r.rowid}`).sort());
}

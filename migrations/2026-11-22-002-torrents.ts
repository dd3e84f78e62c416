import type { Kysely } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
export async function up(db: Kysely<any>): Promise<void> {
  // The metadata (.torrent bytes) of torrents in the queue, by info hash: a .torrent sent to the
  // chat, fetched from a URL, or received from peers for a magnet. A retry or a restart adds the
  // torrent from here instead of waiting for the metadata again. Rows no open item refers to are
  // pruned by the torrent handler.
  await db.schema
    .createTable("torrent_metainfo")
    .addColumn("info_hash", "text", (c) => c.primaryKey())
    .addColumn("metainfo", "blob", (c) => c.notNull())
    .addColumn("created_at", "integer", (c) => c.notNull())
    .execute();

  // Chat messages about a torrent item that must be sent once only (e.g. "skipping 2 files over
  // the limit"), even when the item is retried or the bot restarts.
  await db.schema
    .createTable("torrent_notices")
    .addColumn("item_id", "integer", (c) => c.notNull().references("items.id").onDelete("cascade"))
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addPrimaryKeyConstraint("torrent_notices_pk", ["item_id", "kind"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("torrent_notices").execute();
  await db.schema.dropTable("torrent_metainfo").execute();
}

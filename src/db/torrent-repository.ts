import { sql } from "kysely";
import type { Db } from "./database.ts";
import { OPEN_STATUSES } from "../items/item.ts";

/** Stores (or refreshes) the .torrent bytes of an info hash. */
export async function saveMetainfo(db: Db, infoHash: string, metainfo: Uint8Array, now: number): Promise<void> {
  await db
    .insertInto("torrent_metainfo")
    .values({ info_hash: infoHash, metainfo: Buffer.from(metainfo), created_at: now })
    .onConflict((oc) => oc.column("info_hash").doUpdateSet({ metainfo: Buffer.from(metainfo), created_at: now }))
    .execute();
}

export async function findMetainfo(db: Db, infoHash: string): Promise<Buffer | undefined> {
  const row = await db.selectFrom("torrent_metainfo").select("metainfo").where("info_hash", "=", infoHash).executeTakeFirst();
  return row ? Buffer.from(row.metainfo) : undefined;
}

/**
 * Deletes metadata no open item refers to (an item's URL is a magnet carrying the hex info
 * hash). Rows younger than `graceMs` stay: the intake stores the metadata just before the item.
 */
export async function pruneMetainfo(db: Db, now: number, graceMs = 3_600_000): Promise<number> {
  const result = await db
    .deleteFrom("torrent_metainfo")
    .where("created_at", "<", now - graceMs)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom("items")
            .select(sql<number>`1`.as("one"))
            .where("status", "in", OPEN_STATUSES)
            .where("url", "like", sql<string>`'%' || torrent_metainfo.info_hash || '%'`),
        ),
      ),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Records that a notice about an item was sent; false when it already was (send nothing). */
export async function claimNotice(db: Db, itemId: number, kind: string, now: number): Promise<boolean> {
  const result = await db
    .insertInto("torrent_notices")
    .values({ item_id: itemId, kind, created_at: now })
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

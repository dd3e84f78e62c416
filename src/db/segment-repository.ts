import { type Db, transact } from "./database.ts";

/**
 * Where each part of a file fetched over several connections got, kept across retries and
 * restarts (the planning is in sources/segments.ts).
 */
/** One part of a file: bytes [start, end), `done` of them written from `start`. */
export interface Segment {
  start: number;
  /** Exclusive. */
  end: number;
  done: number;
}

export async function loadSegments(db: Db, itemId: number): Promise<Segment[]> {
  const rows = await db
    .selectFrom("download_segments")
    .select(["start_byte", "end_byte", "done_bytes"])
    .where("item_id", "=", itemId)
    .orderBy("position")
    .execute();
  return rows.map((r) => ({ start: r.start_byte, end: r.end_byte, done: r.done_bytes }));
}

/** Replaces the item's parts with these (one transaction: a crash leaves the old set or the new). */
export async function saveSegments(db: Db, itemId: number, segments: readonly Segment[]): Promise<void> {
  await transact(db, async (trx) => {
    await trx.deleteFrom("download_segments").where("item_id", "=", itemId).execute();
    if (segments.length === 0) return;
    await trx
      .insertInto("download_segments")
      .values(segments.map((s, position) => ({ item_id: itemId, position, start_byte: s.start, end_byte: s.end, done_bytes: s.done })))
      .execute();
  });
}

export async function clearSegments(db: Db, itemId: number): Promise<void> {
  await db.deleteFrom("download_segments").where("item_id", "=", itemId).execute();
}

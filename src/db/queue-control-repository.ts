import type { Db } from "./database.ts";
import { type Item, toItem } from "./item-repository.ts";
import { OPEN_STATUSES, type ItemStatus } from "./schema.ts";

/**
 * The SQL behind queue control: settings, message → item lookups, and the state changes people
 * make from the chat. Every change of an item's status here is conditional on the status it had
 * (a compare-and-set), so a command can never overwrite what the worker did a moment before.
 */

// --- settings -------------------------------------------------------------------------------

export async function getSetting(db: Db, key: string): Promise<string | undefined> {
  const row = await db.selectFrom("settings").select("value").where("key", "=", key).executeTakeFirst();
  return row?.value;
}

export async function putSetting(db: Db, key: string, value: string, now: number): Promise<void> {
  await db
    .insertInto("settings")
    .values({ key, value, updated_at: now })
    .onConflict((oc) => oc.column("key").doUpdateSet({ value, updated_at: now }))
    .execute();
}

// --- messages about items -------------------------------------------------------------------

/** Remembers that a bot message speaks about these items (replies to it can then name them). */
export async function recordItemMessage(db: Db, chatId: number, messageId: number, itemIds: readonly number[], now: number): Promise<void> {
  if (itemIds.length === 0) return;
  await db
    .insertInto("item_messages")
    .values([...new Set(itemIds)].map((itemId) => ({ chat_id: chatId, message_id: messageId, item_id: itemId, created_at: now })))
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/**
 * The items a message in a chat is about: the progress message of an item, a recorded bot
 * message (acknowledgement, failure note), or the person's own request. Oldest first.
 */
export async function itemsForMessage(db: Db, chatId: number, messageId: number): Promise<Item[]> {
  const rows = await db
    .selectFrom("items")
    .selectAll()
    .where("chat_id", "=", chatId)
    .where((eb) =>
      eb.or([
        eb("progress_message_id", "=", messageId),
        eb("request_message_id", "=", messageId),
        eb(
          "id",
          "in",
          eb.selectFrom("item_messages").select("item_id").where("chat_id", "=", chatId).where("message_id", "=", messageId),
        ),
      ]),
    )
    .orderBy("id", "asc")
    .execute();
  return rows.map(toItem);
}

// --- state changes --------------------------------------------------------------------------

/** A waiting item (queued, or waiting for a retry) is set aside; false if it was not waiting. */
export async function pauseWaiting(db: Db, id: number, now: number): Promise<boolean> {
  const r = await db
    .updateTable("items")
    .set({ status: "paused", updated_at: now })
    .where("id", "=", id)
    .where("status", "=", "queued")
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/**
 * A paused item goes back in line: its id keeps its place, and it is ready at once (a pending
 * retry wait is dropped, since someone asked for it now).
 */
export async function resumePaused(db: Db, id: number, now: number): Promise<boolean> {
  const r = await db
    .updateTable("items")
    .set({ status: "queued", next_attempt_at: now, updated_at: now })
    .where("id", "=", id)
    .where("status", "=", "paused")
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Cancels an item that is not running (queued, retry-waiting or paused). */
export async function cancelWaiting(db: Db, id: number, now: number): Promise<boolean> {
  const r = await db
    .updateTable("items")
    .set({ status: "cancelled", finished_at: now, updated_at: now })
    .where("id", "=", id)
    .where("status", "in", ["queued", "paused"])
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** A retry-waiting item runs as soon as the worker is free. */
export async function retryNow(db: Db, id: number, now: number): Promise<boolean> {
  const r = await db
    .updateTable("items")
    .set({ next_attempt_at: now, updated_at: now })
    .where("id", "=", id)
    .where("status", "=", "queued")
    .where("next_attempt_at", ">", now)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export type RequeueResult = { requeued: true } | { requeued: false; open?: Item };

/**
 * A failed or cancelled item goes back to the queue as if new: attempts and errors cleared, its
 * files forgotten (they were deleted when it ended) and a fresh progress message. Refused when the
 * same URL is open again in the chat meanwhile (`open` is that item).
 */
export async function requeueFinished(db: Db, id: number, now: number): Promise<RequeueResult> {
  try {
    return await db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable("items")
        .set({
          status: "queued",
          attempts: 0,
          next_attempt_at: now,
          last_error: null,
          error_code: null,
          bytes_done: 0,
          downloaded: 0,
          local_path: null,
          etag: null,
          last_modified: null,
          progress_message_id: null,
          started_at: null,
          finished_at: null,
          updated_at: now,
        })
        .where("id", "=", id)
        .where("status", "in", ["failed", "cancelled"])
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return { requeued: false } as const;
      await trx.deleteFrom("item_files").where("item_id", "=", id).execute();
      return { requeued: true } as const;
    });
  } catch (error) {
    if ((error as { code?: string } | null)?.code !== "SQLITE_CONSTRAINT_UNIQUE") throw error;
    const item = await db.selectFrom("items").selectAll().where("id", "=", id).executeTakeFirst();
    if (!item) throw error;
    const open = await db
      .selectFrom("items")
      .selectAll()
      .where("chat_id", "=", item.chat_id)
      .where("url", "=", item.url)
      .where("status", "in", OPEN_STATUSES)
      .executeTakeFirst();
    return { requeued: false, ...(open ? { open: toItem(open) } : {}) };
  }
}

/** Changes the priority of an item that has not finished; false otherwise. */
export async function setPriority(db: Db, id: number, priority: number, now: number): Promise<boolean> {
  const r = await db
    .updateTable("items")
    .set({ priority, updated_at: now })
    .where("id", "=", id)
    .where("status", "in", OPEN_STATUSES)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

// --- listings -------------------------------------------------------------------------------

/** Items not finished yet (of one chat, or all). Unordered: the queue view sorts them. */
export async function listOpenItems(db: Db, chatId?: number): Promise<Item[]> {
  let q = db.selectFrom("items").selectAll().where("status", "in", OPEN_STATUSES);
  if (chatId !== undefined) q = q.where("chat_id", "=", chatId);
  return (await q.execute()).map(toItem);
}

/** Finished items of a chat, newest first. */
export async function listFinished(db: Db, chatId: number, offset: number, limit: number): Promise<Item[]> {
  const rows = await db
    .selectFrom("items")
    .selectAll()
    .where("chat_id", "=", chatId)
    .where("status", "in", ["completed", "failed", "cancelled"])
    .orderBy("finished_at", "desc")
    .orderBy("id", "desc")
    .limit(limit)
    .offset(offset)
    .execute();
  return rows.map(toItem);
}

export async function countFinished(db: Db, chatId: number): Promise<number> {
  const row = await db
    .selectFrom("items")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("chat_id", "=", chatId)
    .where("status", "in", ["completed", "failed", "cancelled"])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function countByStatus(db: Db, chatId?: number): Promise<Partial<Record<ItemStatus, number>>> {
  let q = db.selectFrom("items").select(["status", (eb) => eb.fn.countAll<number>().as("n")]).groupBy("status");
  if (chatId !== undefined) q = q.where("chat_id", "=", chatId);
  const rows = await q.execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

export interface StoredDelivery {
  item: Item;
  /** Telegram's copies of the delivered files, in order, with the method each was sent with. */
  files: Array<{ fileId: string; kind: string; caption: string | null }>;
}

/**
 * The latest delivery of `url` in a chat whose files Telegram still holds for us (every file has
 * a file_id), so it can be sent again without downloading anything.
 */
export async function findDelivered(db: Db, chatId: number, url: string): Promise<StoredDelivery | undefined> {
  const row = await db
    .selectFrom("items")
    .selectAll()
    .where("chat_id", "=", chatId)
    .where("url", "=", url)
    .where("status", "=", "completed")
    .orderBy("finished_at", "desc")
    .orderBy("id", "desc")
    .limit(1)
    .executeTakeFirst();
  if (!row) return undefined;
  const item = toItem(row);
  const fileRows = await db
    .selectFrom("item_files")
    .select(["file_id", "upload_kind", "caption"])
    .where("item_id", "=", item.id)
    .orderBy("position")
    .execute();
  if (fileRows.length > 0) {
    if (fileRows.some((f) => !f.file_id || !f.upload_kind)) return undefined;
    return { item, files: fileRows.map((f) => ({ fileId: f.file_id!, kind: f.upload_kind!, caption: f.caption })) };
  }
  if (item.fileId && item.uploadKind) return { item, files: [{ fileId: item.fileId, kind: item.uploadKind, caption: null }] };
  return undefined;
}

import type { ExpressionBuilder } from "kysely";
import {
  ACTIVE_STATUSES,
  FINISHED_STATUSES,
  type Item,
  type ItemFile,
  type ItemPatch,
  type ItemStatus,
  OPEN_STATUSES,
  RETRYABLE_STATUSES,
  type SourceKind,
  canMove,
  isFinished,
} from "../items/item.ts";
import { type Db, transact } from "./database.ts";
import type { Database, ItemFileRow, ItemRow } from "./schema.ts";

export type { Item, ItemFile } from "../items/item.ts";

/**
 * The SQL of the item lifecycle (see `items/item.ts`). Every status change is `transition()`: a
 * compare-and-set from the statuses the caller expects, so the worker and a command from the chat
 * never overwrite each other; whoever loses the race gets `undefined` and looks again.
 */

type ItemRowWithFiles = ItemRow & { downloaded: number };

export function toItem(row: ItemRowWithFiles): Item {
  return {
    id: row.id,
    chatId: row.chat_id,
    userId: row.user_id,
    requestMessageId: row.request_message_id,
    url: row.url,
    sourceKind: row.source_kind,
    title: row.title,
    sizeBytes: row.size_bytes,
    status: row.status,
    priority: row.priority,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    bytesDone: row.bytes_done,
    downloaded: Number(row.downloaded) === 1,
    lastError: row.last_error,
    errorCode: row.error_code,
    etag: row.etag,
    lastModified: row.last_modified,
    progressMessageId: row.progress_message_id,
    requestId: row.request_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

/** "Downloaded" is a fact of item_files (its rows exist once the files are on disk), not a column. */
const downloadedColumn = (eb: ExpressionBuilder<Database, "items">) =>
  eb
    .case()
    .when(eb.exists(eb.selectFrom("item_files").select("item_files.id").whereRef("item_files.item_id", "=", "items.id")))
    .then(1)
    .else(0)
    .end()
    .as("downloaded");

/** Items with their derived columns; every read of items goes through here. */
function selectItems(db: Db) {
  return db.selectFrom("items").selectAll("items").select(downloadedColumn);
}

export interface NewItem {
  chatId: number;
  userId: number | null;
  requestMessageId?: number | null;
  url: string;
  sourceKind: SourceKind;
  title: string;
  sizeBytes: number | null;
  priority?: number;
  /** The stored request it comes from; an item per request at most (a unique index says so). */
  requestId?: number;
}

export type InsertResult = { inserted: true; item: Item } | { inserted: false; existing: Item };

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === "SQLITE_CONSTRAINT_UNIQUE";
}

/** Queues an item; when the same URL is already open in the chat, returns that one instead. */
export async function insertItem(db: Db, item: NewItem, now: number): Promise<InsertResult> {
  try {
    const row = await db
      .insertInto("items")
      .values({
        chat_id: item.chatId,
        user_id: item.userId,
        request_message_id: item.requestMessageId ?? null,
        url: item.url,
        source_kind: item.sourceKind,
        title: item.title,
        size_bytes: item.sizeBytes,
        status: "queued",
        priority: item.priority ?? 0,
        request_id: item.requestId ?? null,
        next_attempt_at: now,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { inserted: true, item: toItem({ ...row, downloaded: 0 }) };
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const existing = await findOpenByUrl(db, item.chatId, item.url);
    if (!existing) throw error;
    return { inserted: false, existing };
  }
}

export async function findItem(db: Db, id: number): Promise<Item | undefined> {
  const row = await selectItems(db).where("items.id", "=", id).executeTakeFirst();
  return row && toItem(row);
}

/** The item a stored request became, if it did. */
export async function findItemByRequest(db: Db, requestId: number): Promise<Item | undefined> {
  const row = await selectItems(db).where("request_id", "=", requestId).executeTakeFirst();
  return row && toItem(row);
}

export async function findOpenByUrl(db: Db, chatId: number, url: string): Promise<Item | undefined> {
  const row = await selectItems(db)
    .where("chat_id", "=", chatId)
    .where("url", "=", url)
    .where("status", "in", OPEN_STATUSES)
    .executeTakeFirst();
  return row && toItem(row);
}

/**
 * The open torrent item of a chat with this info hash, whatever trackers or name its magnet
 * carries (torrent items' URLs are canonical magnets that start with the hash).
 */
export async function findOpenTorrent(db: Db, chatId: number, infoHash: string): Promise<Item | undefined> {
  const prefix = `magnet:?xt=urn:btih:${infoHash.toLowerCase()}`;
  const row = await selectItems(db)
    .where("chat_id", "=", chatId)
    .where("source_kind", "=", "torrent")
    .where("status", "in", OPEN_STATUSES)
    .where((eb) => eb.or([eb("url", "=", prefix), eb("url", "like", `${prefix}&%`)]))
    .executeTakeFirst();
  return row && toItem(row);
}

export async function listItems(db: Db, where: { statuses?: readonly ItemStatus[]; chatId?: number } = {}): Promise<Item[]> {
  let q = selectItems(db);
  if (where.statuses) q = q.where("status", "in", where.statuses);
  if (where.chatId !== undefined) q = q.where("chat_id", "=", where.chatId);
  const rows = await q.orderBy("items.id", "asc").execute();
  return rows.map(toItem);
}

/** Items whose progress message is still live: open ones, and finished ones whose final line was not shown. */
export async function listWithProgressMessage(db: Db): Promise<Item[]> {
  const rows = await selectItems(db).where("progress_message_id", "is not", null).orderBy("items.id").execute();
  return rows.map(toItem);
}

/** Items not finished yet (of one chat, or all). Unordered: the queue view sorts them. */
export function listOpenItems(db: Db, chatId?: number): Promise<Item[]> {
  return listItems(db, { statuses: OPEN_STATUSES, ...(chatId !== undefined ? { chatId } : {}) });
}

/** Finished items of a chat, newest first. */
export async function listFinished(db: Db, chatId: number, offset: number, limit: number): Promise<Item[]> {
  const rows = await selectItems(db)
    .where("chat_id", "=", chatId)
    .where("status", "in", FINISHED_STATUSES)
    .orderBy("finished_at", "desc")
    .orderBy("items.id", "desc")
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
    .where("status", "in", FINISHED_STATUSES)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function countByStatus(db: Db, chatId?: number): Promise<Partial<Record<ItemStatus, number>>> {
  let q = db.selectFrom("items").select(["status", (eb) => eb.fn.countAll<number>().as("n")]).groupBy("status");
  if (chatId !== undefined) q = q.where("chat_id", "=", chatId);
  const rows = await q.execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** Items waiting in the queue (ready or waiting for a retry). */
export async function countQueued(db: Db): Promise<number> {
  const row = await db
    .selectFrom("items")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("status", "=", "queued")
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** 1-based place of a queued item: items that will run before it, plus the one running now. */
export async function queuePosition(db: Db, item: Item): Promise<number> {
  const row = await db
    .selectFrom("items")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where((eb) =>
      eb.or([
        eb("status", "in", ACTIVE_STATUSES),
        eb.and([
          eb("status", "=", "queued"),
          eb.or([
            eb("priority", ">", item.priority),
            eb.and([eb("priority", "=", item.priority), eb("id", "<", item.id)]),
          ]),
        ]),
      ]),
    )
    .executeTakeFirstOrThrow();
  return Number(row.n) + 1;
}

/** The earliest time a queued item becomes ready, if any item is queued at all. */
export async function nextReadyAt(db: Db): Promise<number | undefined> {
  const row = await db
    .selectFrom("items")
    .select((eb) => eb.fn.min("next_attempt_at").as("at"))
    .where("status", "=", "queued")
    .executeTakeFirst();
  return row?.at ?? undefined;
}

function patchColumns(patch: ItemPatch) {
  return {
    ...(patch.attempts !== undefined && { attempts: patch.attempts }),
    ...(patch.nextAttemptAt !== undefined && { next_attempt_at: patch.nextAttemptAt }),
    ...(patch.lastError !== undefined && { last_error: patch.lastError }),
    ...(patch.errorCode !== undefined && { error_code: patch.errorCode }),
    ...(patch.bytesDone !== undefined && { bytes_done: patch.bytesDone }),
    ...(patch.sizeBytes !== undefined && { size_bytes: patch.sizeBytes }),
    ...(patch.etag !== undefined && { etag: patch.etag }),
    ...(patch.lastModified !== undefined && { last_modified: patch.lastModified }),
    ...(patch.progressMessageId !== undefined && { progress_message_id: patch.progressMessageId }),
    ...(patch.startedAt !== undefined && { started_at: patch.startedAt }),
    ...(patch.title !== undefined && { title: patch.title }),
    ...(patch.sourceKind !== undefined && { source_kind: patch.sourceKind }),
    ...(patch.url !== undefined && { url: patch.url }),
    ...(patch.priority !== undefined && { priority: patch.priority }),
  };
}

/**
 * Changes what an item knows about itself (title, size, validators, bytes done...) without
 * touching its status. Not a way to move it: see `transition`.
 */
export async function updateItem(db: Db, id: number, patch: ItemPatch, now: number): Promise<void> {
  await db.updateTable("items").set({ ...patchColumns(patch), updated_at: now }).where("id", "=", id).execute();
}

/**
 * Like `updateItem`, only while the item is in one of `statuses` (the priority of an open item,
 * say) and, with `waitingUntilAfter`, only while its next attempt is still after that time.
 */
export async function updateItemIn(
  db: Db,
  id: number,
  statuses: readonly ItemStatus[],
  patch: ItemPatch,
  now: number,
  only: { waitingUntilAfter?: number } = {},
): Promise<boolean> {
  let q = db
    .updateTable("items")
    .set({ ...patchColumns(patch), updated_at: now })
    .where("id", "=", id)
    .where("status", "in", statuses);
  if (only.waitingUntilAfter !== undefined) q = q.where("next_attempt_at", ">", only.waitingUntilAfter);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export interface Move {
  from: ItemStatus | readonly ItemStatus[];
  to: ItemStatus;
  patch?: ItemPatch;
}

/**
 * The one way an item's status changes: from one of `from` to `to`, with `patch`, in one
 * statement. Resolves with the item as it is now, or undefined when it was not in `from` (someone
 * else moved it first). A move `items/item.ts` does not allow throws before touching anything.
 * Finishing sets `finished_at`; going back in line from a finished status clears it.
 */
export async function transition(db: Db, id: number, move: Move, now: number): Promise<Item | undefined> {
  const from = typeof move.from === "string" ? [move.from] : move.from;
  for (const f of from) {
    if (!canMove(f, move.to)) throw new Error(`item ${id}: moving from ${f} to ${move.to} is not allowed`);
  }
  const r = await db
    .updateTable("items")
    .set({
      ...patchColumns(move.patch ?? {}),
      status: move.to,
      updated_at: now,
      ...(isFinished(move.to) ? { finished_at: now } : from.some(isFinished) ? { finished_at: null } : {}),
    })
    .where("id", "=", id)
    .where("status", "in", from)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) return undefined;
  return findItem(db, id);
}

/**
 * Takes the next ready item (highest priority, then oldest), marks it active and counts the
 * attempt, in one transaction (as graphile-worker's getJob does): a crash can never leave two items
 * "active" or lose one, and an attempt that kills the process counts like any other, so an item
 * cannot crash the bot for ever. `skipDiskFull`: leaves out items whose last attempt failed for
 * a full disk and whose files are not on disk yet (while the disk is still full they would fail
 * again at once, for nothing).
 */
export async function claimNextItem(db: Db, now: number, only: { skipDiskFull?: boolean } = {}): Promise<Item | undefined> {
  return transact(db, async (trx) => {
    let q = selectItems(trx).where("status", "=", "queued").where("next_attempt_at", "<=", now);
    if (only.skipDiskFull) {
      q = q.where((eb) =>
        eb.or([
          eb("error_code", "is", null),
          eb("error_code", "!=", "DISK_FULL"),
          eb.exists(eb.selectFrom("item_files").select("item_files.id").whereRef("item_files.item_id", "=", "items.id")),
        ]),
      );
    }
    const row = await q.orderBy("priority", "desc").orderBy("items.id", "asc").limit(1).executeTakeFirst();
    if (!row) return undefined;
    const item = toItem(row);
    return transition(
      trx,
      item.id,
      { from: "queued", to: item.downloaded ? "uploading" : "downloading", patch: { startedAt: item.startedAt ?? now, attempts: item.attempts + 1 } },
      now,
    );
  });
}

/**
 * A failed or cancelled item goes back to the queue as if new: attempts and errors cleared, its
 * files forgotten (they were deleted when it ended) and a fresh progress message. Undefined when
 * it was not failed or cancelled; `open` when the same URL is open again in the chat meanwhile.
 */
export async function requeueFinished(db: Db, id: number, now: number): Promise<{ item?: Item; open?: Item }> {
  try {
    return await transact(db, async (trx) => {
      const item = await transition(
        trx,
        id,
        {
          from: RETRYABLE_STATUSES,
          to: "queued",
          patch: {
            attempts: 0,
            nextAttemptAt: now,
            lastError: null,
            errorCode: null,
            bytesDone: 0,
            etag: null,
            lastModified: null,
            progressMessageId: null,
            startedAt: null,
          },
        },
        now,
      );
      if (!item) return {};
      await trx.deleteFrom("item_files").where("item_id", "=", id).execute();
      return { item: { ...item, downloaded: false } };
    });
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const item = await findItem(db, id);
    if (!item) throw error;
    const open = await findOpenByUrl(db, item.chatId, item.url);
    return open ? { open } : {};
  }
}

// --- the files an item delivers -----------------------------------------------------------------

function toItemFile(row: ItemFileRow): ItemFile {
  return {
    id: row.id,
    itemId: row.item_id,
    position: row.position,
    path: row.path,
    name: row.name,
    sizeBytes: row.size_bytes,
    offset: row.byte_offset,
    partOf: row.part_of,
    caption: row.caption,
    fileId: row.file_id,
    uploadKind: row.upload_kind,
    uploadedAt: row.uploaded_at,
  };
}

/**
 * The download is complete on disk: the files to deliver are recorded and the item moves on to
 * its upload. From now on a retry or a restart only uploads (what is not uploaded yet).
 */
export async function markDownloaded(
  db: Db,
  id: number,
  files: Array<{ path: string; name: string; size: number; offset?: number; partOf?: number; caption?: string }>,
  now: number,
): Promise<Item | undefined> {
  // Parts of one file count once.
  const total = files.reduce((sum, f) => sum + f.size, 0);
  return transact(db, async (trx) => {
    const moved = await transition(trx, id, { from: "downloading", to: "uploading", patch: { bytesDone: total, sizeBytes: total } }, now);
    if (!moved) return undefined;
    await trx.deleteFrom("item_files").where("item_id", "=", id).execute();
    if (files.length > 0) {
      await trx
        .insertInto("item_files")
        .values(
          files.map((f, position) => ({
            item_id: id,
            position,
            path: f.path,
            name: f.name,
            size_bytes: f.size,
            byte_offset: f.offset ?? 0,
            part_of: f.partOf ?? null,
            caption: f.caption ?? null,
          })),
        )
        .execute();
    }
    return { ...moved, downloaded: files.length > 0 };
  });
}

export async function listItemFiles(db: Db, itemId: number): Promise<ItemFile[]> {
  const rows = await db.selectFrom("item_files").selectAll().where("item_id", "=", itemId).orderBy("position").execute();
  return rows.map(toItemFile);
}

/** One file reached the chat: recorded at once, so it is never uploaded twice. */
export async function markFileUploaded(db: Db, fileRowId: number, fileId: string | null, kind: string, now: number): Promise<void> {
  await db
    .updateTable("item_files")
    .set({ file_id: fileId, upload_kind: kind, uploaded_at: now })
    .where("id", "=", fileRowId)
    .execute();
}

/**
 * The files of a downloaded item vanished from disk: forget them, so the next attempt downloads
 * again (the new download's files replace every record).
 */
export async function forgetFiles(db: Db, id: number, now: number): Promise<void> {
  await transact(db, async (trx) => {
    await trx.deleteFrom("item_files").where("item_id", "=", id).execute();
    await trx.updateTable("items").set({ bytes_done: 0, updated_at: now }).where("id", "=", id).execute();
  });
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
  const row = await selectItems(db)
    .where("chat_id", "=", chatId)
    .where("url", "=", url)
    .where("status", "=", "completed")
    .orderBy("finished_at", "desc")
    .orderBy("items.id", "desc")
    .limit(1)
    .executeTakeFirst();
  if (!row) return undefined;
  const item = toItem(row);
  const files = await listItemFiles(db, item.id);
  if (files.length === 0 || files.some((f) => !f.fileId || !f.uploadKind)) return undefined;
  return { item, files: files.map((f) => ({ fileId: f.fileId!, kind: f.uploadKind!, caption: f.caption })) };
}

import type { Db } from "./database.ts";
import { OPEN_STATUSES, type ItemFileRow, type ItemRow, type ItemStatus, type SourceKind } from "./schema.ts";

/** The queue item as the rest of the code sees it. */
export interface Item {
  id: number;
  chatId: number;
  userId: number | null;
  requestMessageId: number | null;
  url: string;
  sourceKind: SourceKind;
  title: string;
  sizeBytes: number | null;
  status: ItemStatus;
  priority: number;
  attempts: number;
  nextAttemptAt: number;
  bytesDone: number;
  downloaded: boolean;
  lastError: string | null;
  errorCode: string | null;
  localPath: string | null;
  etag: string | null;
  lastModified: string | null;
  fileId: string | null;
  uploadKind: string | null;
  progressMessageId: number | null;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export function toItem(row: ItemRow): Item {
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
    downloaded: row.downloaded === 1,
    lastError: row.last_error,
    errorCode: row.error_code,
    localPath: row.local_path,
    etag: row.etag,
    lastModified: row.last_modified,
    fileId: row.file_id,
    uploadKind: row.upload_kind,
    progressMessageId: row.progress_message_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
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
        next_attempt_at: now,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { inserted: true, item: toItem(row) };
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const existing = await findOpenByUrl(db, item.chatId, item.url);
    if (!existing) throw error;
    return { inserted: false, existing };
  }
}

export async function findItem(db: Db, id: number): Promise<Item | undefined> {
  const row = await db.selectFrom("items").selectAll().where("id", "=", id).executeTakeFirst();
  return row && toItem(row);
}

export async function findOpenByUrl(db: Db, chatId: number, url: string): Promise<Item | undefined> {
  const row = await db
    .selectFrom("items")
    .selectAll()
    .where("chat_id", "=", chatId)
    .where("url", "=", url)
    .where("status", "in", OPEN_STATUSES)
    .executeTakeFirst();
  return row && toItem(row);
}

/**
 * Takes the next ready item (highest priority, then oldest) and marks it active in one
 * transaction, so a crash can never leave two items "active" or lose one.
 */
export async function claimNextItem(db: Db, now: number): Promise<Item | undefined> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom("items")
      .selectAll()
      .where("status", "=", "queued")
      .where("next_attempt_at", "<=", now)
      .orderBy("priority", "desc")
      .orderBy("id", "asc")
      .limit(1)
      .executeTakeFirst();
    if (!row) return undefined;
    const updated = await trx
      .updateTable("items")
      .set({
        status: row.downloaded ? "uploading" : "downloading",
        started_at: row.started_at ?? now,
        updated_at: now,
      })
      .where("id", "=", row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toItem(updated);
  });
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

/** Items waiting in the queue (ready or waiting for a retry). */
export async function countQueued(db: Db): Promise<number> {
  const row = await db
    .selectFrom("items")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("status", "=", "queued")
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * 1-based place of a queued item: items that will run before it, plus the one running now.
 */
export async function queuePosition(db: Db, item: Item): Promise<number> {
  const row = await db
    .selectFrom("items")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where((eb) =>
      eb.or([
        eb("status", "in", ["downloading", "uploading"]),
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

export async function updateItem(
  db: Db,
  id: number,
  patch: Partial<{
    title: string;
    sizeBytes: number | null;
    bytesDone: number;
    localPath: string | null;
    etag: string | null;
    lastModified: string | null;
    progressMessageId: number | null;
    sourceKind: SourceKind;
    url: string;
  }>,
  now: number,
): Promise<void> {
  await db
    .updateTable("items")
    .set({
      ...(patch.title !== undefined && { title: patch.title }),
      ...(patch.sizeBytes !== undefined && { size_bytes: patch.sizeBytes }),
      ...(patch.bytesDone !== undefined && { bytes_done: patch.bytesDone }),
      ...(patch.localPath !== undefined && { local_path: patch.localPath }),
      ...(patch.etag !== undefined && { etag: patch.etag }),
      ...(patch.lastModified !== undefined && { last_modified: patch.lastModified }),
      ...(patch.progressMessageId !== undefined && { progress_message_id: patch.progressMessageId }),
      ...(patch.sourceKind !== undefined && { source_kind: patch.sourceKind }),
      ...(patch.url !== undefined && { url: patch.url }),
      updated_at: now,
    })
    .where("id", "=", id)
    .execute();
}

export interface ItemFile {
  id: number;
  itemId: number;
  position: number;
  path: string;
  name: string;
  sizeBytes: number;
  caption: string | null;
  fileId: string | null;
  uploadKind: string | null;
  uploadedAt: number | null;
}

function toItemFile(row: ItemFileRow): ItemFile {
  return {
    id: row.id,
    itemId: row.item_id,
    position: row.position,
    path: row.path,
    name: row.name,
    sizeBytes: row.size_bytes,
    caption: row.caption,
    fileId: row.file_id,
    uploadKind: row.upload_kind,
    uploadedAt: row.uploaded_at,
  };
}

/**
 * The download is complete on disk: the files to deliver are recorded and from now on a retry or
 * a restart only uploads (what is not uploaded yet).
 */
export async function markDownloaded(
  db: Db,
  id: number,
  files: Array<{ path: string; name: string; size: number; caption?: string }>,
  now: number,
): Promise<void> {
  const total = files.reduce((sum, f) => sum + f.size, 0);
  await db.transaction().execute(async (trx) => {
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
            caption: f.caption ?? null,
          })),
        )
        .execute();
    }
    await trx
      .updateTable("items")
      .set({
        status: "uploading",
        downloaded: 1,
        local_path: files.length === 1 ? files[0]!.path : null,
        bytes_done: total,
        size_bytes: total,
        updated_at: now,
      })
      .where("id", "=", id)
      .execute();
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

/** Records the delivery; `file_id` and the final status land in one statement. */
export async function markCompleted(db: Db, id: number, fileId: string | null, uploadKind: string | null, now: number): Promise<void> {
  await db
    .updateTable("items")
    .set({
      status: "completed",
      file_id: fileId,
      upload_kind: uploadKind,
      local_path: null,
      last_error: null,
      error_code: null,
      finished_at: now,
      updated_at: now,
    })
    .where("id", "=", id)
    .execute();
}

/** A failed attempt that will be tried again at `nextAttemptAt`. */
export async function scheduleRetry(
  db: Db,
  id: number,
  failure: { attempts: number; nextAttemptAt: number; code: string; message: string },
  now: number,
): Promise<void> {
  await db
    .updateTable("items")
    .set({
      status: "queued",
      attempts: failure.attempts,
      next_attempt_at: failure.nextAttemptAt,
      error_code: failure.code,
      last_error: failure.message,
      updated_at: now,
    })
    .where("id", "=", id)
    .execute();
}

export async function markFailed(
  db: Db,
  id: number,
  failure: { attempts: number; code: string; message: string },
  now: number,
): Promise<void> {
  await db
    .updateTable("items")
    .set({
      status: "failed",
      attempts: failure.attempts,
      error_code: failure.code,
      last_error: failure.message,
      finished_at: now,
      updated_at: now,
    })
    .where("id", "=", id)
    .execute();
}

/** Sets the status of an item unless it already reached one of `unless` (e.g. finished). */
export async function setStatus(
  db: Db,
  id: number,
  status: ItemStatus,
  now: number,
  extra: { finished?: boolean; nextAttemptAt?: number } = {},
): Promise<void> {
  await db
    .updateTable("items")
    .set({
      status,
      updated_at: now,
      ...(extra.finished && { finished_at: now }),
      ...(extra.nextAttemptAt !== undefined && { next_attempt_at: extra.nextAttemptAt }),
    })
    .where("id", "=", id)
    .execute();
}

/**
 * At start, items a previous process left active go back to the queue (the stale-lock release of
 * a job queue). They keep their bytes on disk and their `downloaded` flag, so they resume.
 */
export async function requeueInterrupted(db: Db, now: number): Promise<number> {
  const result = await db
    .updateTable("items")
    .set({ status: "queued", next_attempt_at: now, updated_at: now })
    .where("status", "in", ["downloading", "uploading"])
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export async function listItems(db: Db, where: { statuses?: ItemStatus[]; chatId?: number } = {}): Promise<Item[]> {
  let q = db.selectFrom("items").selectAll();
  if (where.statuses) q = q.where("status", "in", where.statuses);
  if (where.chatId !== undefined) q = q.where("chat_id", "=", where.chatId);
  const rows = await q.orderBy("id", "asc").execute();
  return rows.map(toItem);
}

/** The files of a downloaded item vanished from disk: download again on the next attempt. */
export async function resetDownloaded(db: Db, id: number, now: number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom("item_files").where("item_id", "=", id).where("file_id", "is", null).execute();
    await trx
      .updateTable("items")
      .set({ downloaded: 0, bytes_done: 0, local_path: null, updated_at: now })
      .where("id", "=", id)
      .execute();
  });
}

/**
 * The open torrent item of a chat with this info hash, whatever trackers or name its magnet
 * carries (torrent items' URLs are canonical magnets that start with the hash).
 */
export async function findOpenTorrent(db: Db, chatId: number, infoHash: string): Promise<Item | undefined> {
  const prefix = `magnet:?xt=urn:btih:${infoHash.toLowerCase()}`;
  const row = await db
    .selectFrom("items")
    .selectAll()
    .where("chat_id", "=", chatId)
    .where("source_kind", "=", "torrent")
    .where("status", "in", OPEN_STATUSES)
    .where((eb) => eb.or([eb("url", "=", prefix), eb("url", "like", `${prefix}&%`)]))
    .executeTakeFirst();
  return row && toItem(row);
}

/** Puts an item that is still marked active back in line at `at` (after a crash of its run). */
export async function requeueIfActive(db: Db, id: number, at: number, now: number): Promise<void> {
  await db
    .updateTable("items")
    .set({ status: "queued", next_attempt_at: at, updated_at: now })
    .where("id", "=", id)
    .where("status", "in", ["downloading", "uploading"])
    .execute();
}

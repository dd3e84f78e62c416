import type { Choice, ChoiceOffer } from "../items/choice.ts";
import { type ExpressionBuilder, sql } from "kysely";
import {
  ACTIVE_STATUSES,
  FINISHED_STATUSES,
  type Item,
  type ItemFile,
  type ItemStatus,
  OPEN_STATUSES,
  type Wants,
} from "../items/item.ts";
import type { Db } from "./database.ts";
import { listItemFiles } from "./item-file-repository.ts";
import { reasonFromColumn } from "./reason-column.ts";
import type { Database, ItemRow } from "./schema.ts";
import { wantsFromColumn, wantsToColumn } from "./wants-column.ts";

/**
 * The reads of the items table: rows to items, the lookups and the counts the queue, intake and
 * the views ask for. Nothing here writes; `item-repository.ts` makes the changes.
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
    lastError: reasonFromColumn(row.last_error),
    errorCode: row.error_code,
    etag: row.etag,
    lastModified: row.last_modified,
    requestId: row.request_id,
    wants: wantsFromColumn(row.wants),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    // Absent on a database an older version left (a migration test reads one): none.
    choiceOffer: row.choice_offer == null ? null : (JSON.parse(row.choice_offer) as ChoiceOffer),
    choice: row.choice == null ? null : (JSON.parse(row.choice) as Choice),
    choiceDeadline: row.choice_deadline ?? null,
  };
}

/**
 * "Downloaded" is a fact of item_files (its rows exist once the files are on disk), not a column;
 * parts recorded while their file still downloads (`pending`) do not count.
 */
const downloadedColumn = (eb: ExpressionBuilder<Database, "items">) =>
  eb
    .case()
    .when(eb.exists(finishedFiles(eb)))
    .then(1)
    .else(0)
    .end()
    .as("downloaded");

/** The rows of the item's files once its download is complete. */
export const finishedFiles = (eb: ExpressionBuilder<Database, "items">) =>
  eb.selectFrom("item_files").select("item_files.id").whereRef("item_files.item_id", "=", "items.id").where("item_files.pending", "=", 0);

/** Items with their derived columns; every read of items goes through here. */
export function selectItems(db: Db) {
  return db.selectFrom("items").selectAll("items").select(downloadedColumn);
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

/** The chat's open item of a link with the same wishes (its video and its audio are two items). */
export async function findOpenByUrl(db: Db, chatId: number, url: string, wants: Wants): Promise<Item | undefined> {
  const row = await selectItems(db)
    .where("chat_id", "=", chatId)
    .where("url", "=", url)
    .where("wants", "=", wantsToColumn(wants))
    .where("status", "in", OPEN_STATUSES)
    .executeTakeFirst();
  return row && toItem(row);
}

/**
 * The open torrent item of a chat with this info hash and the same wishes, whatever trackers or
 * name its magnet carries (torrent items' URLs are canonical magnets that start with the hash).
 */
export async function findOpenTorrent(db: Db, chatId: number, infoHash: string, wants: Wants): Promise<Item | undefined> {
  const prefix = `magnet:?xt=urn:btih:${infoHash.toLowerCase()}`;
  const row = await selectItems(db)
    .where("chat_id", "=", chatId)
    .where("source_kind", "=", "torrent")
    .where("wants", "=", wantsToColumn(wants))
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


/** Items not finished yet (of one chat, or all). Unordered: the queue view sorts them. */
export function listOpenItems(db: Db, chatId?: number): Promise<Item[]> {
  return listItems(db, { statuses: OPEN_STATUSES, ...(chatId !== undefined ? { chatId } : {}) });
}

/**
 * "Finished", written as the partial index items_chat_finished has it (migration 004): SQLite
 * uses a partial index only when the query's WHERE has the same terms, and bound parameters are
 * not the same. With them, a chat's history page sorted all its items (47 ms at 100,000).
 */
const finishedStatus = (eb: ExpressionBuilder<Database, "items">) =>
  eb(
    "status",
    "in",
    FINISHED_STATUSES.map((status) => sql.lit(status)),
  );

/** Finished items of a chat, newest first. */
export async function listFinished(db: Db, chatId: number, offset: number, limit: number): Promise<Item[]> {
  const rows = await selectItems(db)
    .where("chat_id", "=", chatId)
    .where(finishedStatus)
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
    .where(finishedStatus)
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

/** The earliest of a time column among items in `status`, if any. */
export async function earliest(db: Db, column: "next_attempt_at" | "choice_deadline", status: ItemStatus): Promise<number | undefined> {
  const row = await db
    .selectFrom("items")
    .select((eb) => eb.fn.min(column).as("at"))
    .where("status", "=", status)
    .executeTakeFirst();
  return row?.at ?? undefined;
}

/** The earliest time a queued item becomes ready, if any item is queued at all. */
export function nextReadyAt(db: Db): Promise<number | undefined> {
  return earliest(db, "next_attempt_at", "queued");
}

export interface StoredDelivery {
  item: Item;
  /** Telegram's copies of the delivered files, in order, with the method each was sent with (and what its caption is worded from). */
  files: Array<{ fileId: string; kind: string } & Pick<ItemFile, "name" | "caption" | "partOf" | "partIndex" | "joinAs">>;
}

/**
 * The latest delivery of `url` with the same wishes in a chat (an earlier video is not what
 * `/audio` asks for) whose files Telegram still holds for us (every file has a file_id), so it
 * can be sent again without downloading anything.
 */
export async function findDelivered(db: Db, chatId: number, url: string, wants: Wants): Promise<StoredDelivery | undefined> {
  const row = await selectItems(db)
    .where("chat_id", "=", chatId)
    .where("url", "=", url)
    .where("wants", "=", wantsToColumn(wants))
    .where("status", "=", "completed")
    .orderBy("finished_at", "desc")
    .orderBy("items.id", "desc")
    .limit(1)
    .executeTakeFirst();
  if (!row) return undefined;
  const item = toItem(row);
  const files = await listItemFiles(db, item.id);
  if (files.length === 0 || files.some((f) => !f.fileId || !f.uploadKind)) return undefined;
  return {
    item,
    files: files.map((f) => ({ fileId: f.fileId!, kind: f.uploadKind!, name: f.name, caption: f.caption, partOf: f.partOf, partIndex: f.partIndex, joinAs: f.joinAs })),
  };
}

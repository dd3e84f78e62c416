import {
  ACTIVE_STATUSES,
  type Item,
  type ItemPatch,
  type ItemStatus,
  RETRYABLE_STATUSES,
  type SourceKind,
  WAITING_STATUSES,
  type Wants,
  canMove,
  isFinished,
} from "../items/item.ts";
import type { ErrorReason } from "../errors.ts";
import type { ChoiceOffer } from "../items/choice.ts";
import { type Db, transact } from "./database.ts";
import { type NewItemFile, replaceItemFiles } from "./item-file-repository.ts";
import { findItem, findOpenByUrl, finishedFiles, selectItems, toItem } from "./item-query-repository.ts";
import { reasonToColumn } from "./reason-column.ts";
import { wantsToColumn } from "./wants-column.ts";

export type { Item, ItemFile } from "../items/item.ts";
// One import for everything about items: the reads and the delivered files live in modules of
// their own, which callers may also import directly.
export {
  type StoredDelivery,
  countByStatus,
  countFinished,
  countQueued,
  findDelivered,
  findItem,
  findItemByRequest,
  findOpenByUrl,
  findOpenTorrent,
  listFinished,
  listItems,
  listOpenItems,
  nextReadyAt,
  queuePosition,
} from "./item-query-repository.ts";
export { clearItemFiles, forgetFiles, listItemFiles, markFileUploaded, recordPendingParts, type NewItemFile } from "./item-file-repository.ts";

/**
 * The items and their lifecycle (see `items/item.ts`). Every status change is one of the named
 * verbs below (claim, markDownloaded, complete, scheduleRetry, fail, stop; pause, resume, cancel,
 * requeue), each a compare-and-set through `transition()` from the statuses it starts from, so the
 * worker and a command from the chat never overwrite each other: whoever loses the race gets
 * `undefined` and looks again. Nothing else writes `status`.
 */

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
  /** What was asked of its media (only the audio, say); default `{}`. */
  wants?: Wants;
}

export type InsertResult = { inserted: true; item: Item } | { inserted: false; existing: Item };

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === "SQLITE_CONSTRAINT_UNIQUE";
}

/** Queues an item; when the same URL is already open in the chat with the same wishes, returns that one instead. */
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
        wants: wantsToColumn(item.wants ?? {}),
        next_attempt_at: now,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { inserted: true, item: toItem({ ...row, downloaded: 0 }) };
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const existing = await findOpenByUrl(db, item.chatId, item.url, item.wants ?? {});
    if (!existing) throw error;
    return { inserted: false, existing };
  }
}

function patchColumns(patch: ItemPatch) {
  return {
    ...(patch.attempts !== undefined && { attempts: patch.attempts }),
    ...(patch.nextAttemptAt !== undefined && { next_attempt_at: patch.nextAttemptAt }),
    ...(patch.lastError !== undefined && { last_error: reasonToColumn(patch.lastError) }),
    ...(patch.errorCode !== undefined && { error_code: patch.errorCode }),
    ...(patch.bytesDone !== undefined && { bytes_done: patch.bytesDone }),
    ...(patch.sizeBytes !== undefined && { size_bytes: patch.sizeBytes }),
    ...(patch.etag !== undefined && { etag: patch.etag }),
    ...(patch.lastModified !== undefined && { last_modified: patch.lastModified }),
    ...(patch.startedAt !== undefined && { started_at: patch.startedAt }),
    ...(patch.title !== undefined && { title: patch.title }),
    ...(patch.sourceKind !== undefined && { source_kind: patch.sourceKind }),
    ...(patch.url !== undefined && { url: patch.url }),
    ...(patch.priority !== undefined && { priority: patch.priority }),
    ...(patch.choiceOffer !== undefined && { choice_offer: patch.choiceOffer === null ? null : JSON.stringify(patch.choiceOffer) }),
    ...(patch.choice !== undefined && { choice: patch.choice === null ? null : JSON.stringify(patch.choice) }),
    ...(patch.choiceDeadline !== undefined && { choice_deadline: patch.choiceDeadline }),
    ...(patch.wants !== undefined && { wants: wantsToColumn(patch.wants) }),
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
          eb.exists(finishedFiles(eb)),
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

/** A move that gives the running attempt's count back: it ended well or was stopped on purpose. */
const attemptGivenBack = (item: Item) => Math.max(0, item.attempts - 1);

/**
 * The download is complete on disk: the files to deliver are recorded and the item moves on to
 * its upload. From now on a retry or a restart only uploads (what is not uploaded yet).
 */
export async function markDownloaded(db: Db, id: number, files: readonly NewItemFile[], now: number): Promise<Item | undefined> {
  // Parts of one file count once.
  const total = files.reduce((sum, f) => sum + f.size, 0);
  return transact(db, async (trx) => {
    const moved = await transition(trx, id, { from: "downloading", to: "uploading", patch: { bytesDone: total, sizeBytes: total } }, now);
    if (!moved) return undefined;
    await replaceItemFiles(trx, id, files);
    return { ...moved, downloaded: files.length > 0 };
  });
}

// --- the running item: the worker's moves, each from an active status ----------------------------

/**
 * The attempt succeeded: its count is given back, so `attempts` keeps meaning the attempts that
 * failed (what the retry schedule, /queue and the "attempt N of M" lines count).
 */
export function complete(db: Db, item: Item, now: number): Promise<Item | undefined> {
  return transition(db, item.id, { from: ACTIVE_STATUSES, to: "completed", patch: { attempts: attemptGivenBack(item), lastError: null, errorCode: null } }, now);
}

/** What a failed attempt leaves on its item. */
export interface Failure {
  attempts: number;
  errorCode: string;
  lastError: ErrorReason;
  /** 0 when the attempt's files were removed (a retry starts over). */
  bytesDone?: number;
}

/** The attempt failed; the next one is due at `at`. */
export function scheduleRetry(db: Db, id: number, failure: Failure, at: number, now: number): Promise<Item | undefined> {
  return transition(db, id, { from: ACTIVE_STATUSES, to: "queued", patch: { ...failure, nextAttemptAt: at } }, now);
}

/** The attempt failed and no other comes. */
export function fail(db: Db, id: number, failure: Failure, now: number): Promise<Item | undefined> {
  return transition(db, id, { from: ACTIVE_STATUSES, to: "failed", patch: failure }, now);
}

/**
 * Stopped on purpose, not a failure, so the attempt is given back: cancelled, paused, or back in
 * line (`queued`: held by a pause of the whole queue, shutdown, or a claim taken back), keeping
 * `bytesDone` when given and ready from `readyAt` when given.
 */
export function stop(
  db: Db,
  item: Item,
  to: "cancelled" | "paused" | "queued",
  keep: { bytesDone?: number; readyAt?: number },
  now: number,
): Promise<Item | undefined> {
  const patch: ItemPatch = { attempts: attemptGivenBack(item) };
  if (keep.bytesDone !== undefined) patch.bytesDone = keep.bytesDone;
  if (keep.readyAt !== undefined) patch.nextAttemptAt = keep.readyAt;
  return transition(db, item.id, { from: ACTIVE_STATUSES, to, patch }, now);
}

/**
 * The source needs a choice first (which files, which quality): the item waits in `choosing`,
 * its attempt given back, until someone chooses or `deadline` passes (see choice-repository.ts).
 */
export function waitForChoice(db: Db, item: Item, offer: ChoiceOffer, deadline: number, now: number): Promise<Item | undefined> {
  return transition(db, item.id, { from: "downloading", to: "choosing", patch: { attempts: attemptGivenBack(item), choiceOffer: offer, choice: null, choiceDeadline: deadline } }, now);
}

// --- waiting and finished items: what commands do to them -----------------------------------------

/** A queued item is set aside. */
export function pause(db: Db, id: number, now: number): Promise<Item | undefined> {
  return transition(db, id, { from: "queued", to: "paused" }, now);
}

/** A paused item goes back in line, ready at once: a pending retry wait is dropped, since someone asked for it now. */
export function resume(db: Db, id: number, now: number): Promise<Item | undefined> {
  return transition(db, id, { from: "paused", to: "queued", patch: { nextAttemptAt: now } }, now);
}

/** A waiting (queued or paused) item is cancelled. */
export function cancel(db: Db, id: number, now: number): Promise<Item | undefined> {
  return transition(db, id, { from: WAITING_STATUSES, to: "cancelled" }, now);
}

/**
 * A failed or cancelled item goes back to the queue as if new: attempts and errors cleared, its
 * files forgotten (they were deleted when it ended) and a fresh progress message. Undefined when
 * it was not failed or cancelled; `open` when the same URL is open again in the chat meanwhile.
 */
export async function requeue(db: Db, id: number, now: number): Promise<{ item?: Item; open?: Item }> {
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
            startedAt: null,
          },
        },
        now,
      );
      if (!item) return {};
      await replaceItemFiles(trx, id, []);
      return { item: { ...item, downloaded: false } };
    });
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const item = await findItem(db, id);
    if (!item) throw error;
    const open = await findOpenByUrl(db, item.chatId, item.url, item.wants);
    return open ? { open } : {};
  }
}

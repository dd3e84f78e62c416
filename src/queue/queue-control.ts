import type { Db } from "../db/database.ts";
import {
  cancel as cancelWaiting,
  countByStatus,
  countFinished,
  countQueued,
  findItem,
  listFinished,
  listOpenItems,
  pause as pauseWaiting,
  queuePosition,
  requeue,
  resume as resumePaused,
  updateItemIn,
} from "../db/item-repository.ts";
import { itemsForMessage, recordItemMessage } from "../db/message-repository.ts";
import {
  type Item,
  OPEN_STATUSES,
  PRIORITIES,
  type PriorityName,
  isActive,
  isFinished,
} from "../items/item.ts";
import type { Logger } from "../logger.ts";
import { DISK_RESERVE_BYTES, type DataDisk } from "../storage/data-disk.ts";
import { removeItemFolder } from "./item-folder.ts";
import { type QueueEntry, orderQueue } from "./queue-order.ts";
import type { ControlOutcome, PauseOutcome, ResumeOutcome, StatusInfo } from "./control-outcomes.ts";
import type { QueueEvents, StopReason } from "./events.ts";

export { type QueueEntry, orderQueue } from "./queue-order.ts";

/** What queue control needs of the worker. */
export interface ControlledWorker {
  readonly activeItemId: number | undefined;
  readonly queuePaused: boolean;
  /** Stops the running item; settles once its outcome is recorded (false: it was not running). */
  stopItem(itemId: number, reason: Exclude<StopReason, "shutdown">): Promise<boolean>;
  pauseQueue(): Promise<{ changed: boolean; heldItemId?: number }>;
  resumeQueue(): Promise<{ changed: boolean }>;
  notify(): void;
}

export interface QueueControlDeps {
  db: Db;
  worker: ControlledWorker;
  events: QueueEvents;
  disk: DataDisk;
  /** Whether yt-dlp is installed (/status says when it is not). */
  ytDlp?: boolean;
  /** yt-dlp's version once known (it is asked at start, in the background). */
  ytDlpVersion?: () => string | undefined;
  /**
   * The chats whose /pause and /resume act on the whole queue (config `adminChatIds`). In every
   * other chat they act on that chat's own items, so no chat stops another chat's download.
   * Default: none (a test's QueueControl that never pauses for a chat).
   */
  adminChatIds?: readonly number[];
  logger: Logger;
  now?: () => number;
}

export type { ControlOutcome, PauseOutcome, ResumeOutcome, StatusInfo } from "./control-outcomes.ts";

/**
 * How often a command looks again at an item that changed under it (claimed by the worker, or
 * moved by another command, between the read and the compare-and-set). Each look is immediate:
 * the worker's own moves are awaited through `stopItem`, so a few looks always settle it.
 */
const LOOKS = 5;

/**
 * What people do to the queue from the chat: pause, resume, cancel, retry and reorder items,
 * pause the whole queue. The worker owns the running item (stopped through `stopItem`, and the
 * worker records and reports the outcome); everything else moves in the database directly, each
 * move a compare-and-set from the state it starts from, so a command and the worker never
 * overwrite each other. Changes to waiting items are reported here.
 */
export class QueueControl {
  private readonly now: () => number;

  constructor(private readonly deps: QueueControlDeps) {
    this.now = deps.now ?? Date.now;
  }

  // --- one item -------------------------------------------------------------------------------

  pause(itemId: number, chatId: number): Promise<ControlOutcome> {
    return this.stopOne(itemId, chatId, "pause", async (item) => {
      const paused = await pauseWaiting(this.deps.db, item.id, this.now());
      if (!paused) return undefined;
      this.deps.events.emit({ type: "stopped", item: paused, reason: "pause", wasRunning: false, waiting: await countQueued(this.deps.db) });
      return { ok: true, item: paused, did: "paused" };
    });
  }

  resume(itemId: number, chatId: number): Promise<ControlOutcome> {
    return this.settle(itemId, chatId, async (item) => {
      if (isFinished(item.status)) return { ok: false, item, why: "finished" };
      if (item.status !== "paused") return { ok: false, item, why: "not-paused" };
      // Ready at once: a pending retry wait is dropped, since someone asked for it now.
      const resumed = await resumePaused(this.deps.db, item.id, this.now());
      if (!resumed) return undefined;
      this.deps.worker.notify();
      this.deps.events.emit({
        type: "resumed",
        item: resumed,
        position: await queuePosition(this.deps.db, resumed),
        queuePaused: this.deps.worker.queuePaused,
        waiting: await countQueued(this.deps.db),
      });
      return { ok: true, item: resumed, did: "resumed" };
    });
  }

  cancel(itemId: number, chatId: number): Promise<ControlOutcome> {
    return this.stopOne(itemId, chatId, "cancel", async (item) => {
      const cancelled = await cancelWaiting(this.deps.db, item.id, this.now());
      if (!cancelled) return undefined;
      // A paused or retry-waiting item may have bytes on disk.
      await removeItemFolder({ db: this.deps.db, dataDir: this.deps.disk.dir, logger: this.deps.logger }, item.id);
      this.deps.logger.info({ itemId: item.id }, "item cancelled while waiting");
      this.deps.events.emit({ type: "stopped", item: cancelled, reason: "cancel", wasRunning: false, waiting: await countQueued(this.deps.db) });
      return { ok: true, item: cancelled, did: "cancelled" };
    });
  }

  /**
   * A failed or cancelled item goes back to the queue; a retry-waiting one runs now; a paused one
   * resumes.
   */
  retry(itemId: number, chatId: number): Promise<ControlOutcome> {
    return this.settle(itemId, chatId, async (item) => {
      if (item.status === "completed") return { ok: false, item, why: "delivered" };
      if (item.status === "paused") return this.resume(itemId, chatId);
      if (item.status === "queued") {
        // Only an item whose retry is still ahead: one that is ready anyway is simply in line.
        const now = this.now();
        if (await updateItemIn(this.deps.db, item.id, ["queued"], { nextAttemptAt: now }, now, { waitingUntilAfter: now })) {
          this.deps.worker.notify();
          return { ok: true, item, did: "retry-now" };
        }
        return { ok: false, item, why: "in-queue" };
      }
      if (isActive(item.status)) return { ok: false, item, why: "in-queue" };
      const result = await requeue(this.deps.db, item.id, this.now());
      if (!result.item) return result.open ? { ok: false, item, why: "in-queue", open: result.open } : undefined;
      this.deps.worker.notify();
      return { ok: true, item: result.item, did: "requeued" };
    });
  }

  /** The worker takes higher priority first; the running item is never interrupted by this. */
  prioritise(itemId: number, chatId: number, level: PriorityName): Promise<ControlOutcome> {
    return this.settle(itemId, chatId, async (item) => {
      if (isFinished(item.status)) return { ok: false, item, why: "finished" };
      if (!(await updateItemIn(this.deps.db, item.id, OPEN_STATUSES, { priority: PRIORITIES[level] }, this.now()))) return undefined;
      this.deps.worker.notify();
      return { ok: true, item: { ...item, priority: PRIORITIES[level] }, did: "priority" };
    });
  }

  /** 1-based place of an item in the whole queue, as it is now (1 once it is running). */
  async position(item: Item): Promise<number> {
    const now = (await findItem(this.deps.db, item.id)) ?? item;
    return isActive(now.status) ? 1 : queuePosition(this.deps.db, now);
  }

  // --- the whole queue ------------------------------------------------------------------------

  get queuePaused(): boolean {
    return this.deps.worker.queuePaused;
  }

  /** Whether the chat's /pause and /resume act on the whole queue. */
  isAdmin(chatId: number): boolean {
    return this.deps.adminChatIds?.includes(chatId) ?? false;
  }

  /**
   * /pause without an id: from an admin chat the whole queue; from any other chat that chat's own
   * items (its running one stopped, keeping its bytes; its waiting ones set aside), so one chat
   * never stops another's download.
   */
  async pauseFor(chatId: number): Promise<PauseOutcome> {
    if (this.isAdmin(chatId)) return { scope: "queue", ...(await this.deps.worker.pauseQueue()) };
    const activeId = this.deps.worker.activeItemId;
    const mine = (await listOpenItems(this.deps.db)).filter((i) => i.chatId === chatId && i.status !== "paused");
    // The waiting ones first, then the running one: stopped last, it makes way for another chat's
    // item, not for one of these (which would start only to be stopped again).
    const running = (i: Item) => i.id === activeId || isActive(i.status);
    mine.sort((a, b) => Number(running(a)) - Number(running(b)) || a.id - b.id);
    const paused: Item[] = [];
    let stoppedItemId: number | undefined;
    for (const item of mine) {
      const outcome = await this.pause(item.id, chatId);
      if (!outcome.ok) continue;
      paused.push(outcome.item);
      if (running(item)) stoppedItemId = item.id;
    }
    return { scope: "chat", paused, ...(stoppedItemId !== undefined ? { stoppedItemId } : {}) };
  }

  /** /resume without an id: from an admin chat the whole queue; elsewhere that chat's paused items. */
  async resumeFor(chatId: number): Promise<ResumeOutcome> {
    if (this.isAdmin(chatId)) return { scope: "queue", ...(await this.deps.worker.resumeQueue()) };
    const mine = (await listOpenItems(this.deps.db)).filter((i) => i.chatId === chatId && i.status === "paused").sort((a, b) => a.id - b.id);
    const resumed: Item[] = [];
    for (const item of mine) {
      const outcome = await this.resume(item.id, chatId);
      if (outcome.ok) resumed.push(outcome.item);
    }
    return { scope: "chat", resumed };
  }

  /** The whole queue runs again; only for an admin chat (false: not allowed from this chat). */
  async resumeQueue(chatId: number): Promise<{ allowed: boolean; changed: boolean }> {
    if (!this.isAdmin(chatId)) return { allowed: false, changed: false };
    return { allowed: true, ...(await this.deps.worker.resumeQueue()) };
  }

  // --- what the listings show -----------------------------------------------------------------

  async queue(): Promise<{ entries: QueueEntry[]; queuePaused: boolean; now: number }> {
    const entries = orderQueue(await listOpenItems(this.deps.db), this.deps.worker.activeItemId);
    return { entries, queuePaused: this.deps.worker.queuePaused, now: this.now() };
  }

  /** One page of a chat's finished items, newest first; `page` is clamped to the pages there are. */
  async history(chatId: number, page: number, pageSize: number): Promise<{ items: Item[]; page: number; total: number; now: number }> {
    const total = await countFinished(this.deps.db, chatId);
    const pages = Math.max(1, Math.ceil(total / pageSize));
    const p = Math.min(Math.max(0, page), pages - 1);
    const items = await listFinished(this.deps.db, chatId, p * pageSize, pageSize);
    return { items, page: p, total, now: this.now() };
  }

  async status(chatId: number): Promise<StatusInfo> {
    const activeId = this.deps.worker.activeItemId;
    const active = activeId !== undefined ? await findItem(this.deps.db, activeId) : undefined;
    const freeBytes = await this.deps.disk.free().catch(() => null);
    return {
      counts: await countByStatus(this.deps.db, chatId),
      queuePaused: this.deps.worker.queuePaused,
      ...(active && active.chatId === chatId ? { active } : {}),
      activeElsewhere: active !== undefined && active.chatId !== chatId,
      admin: this.isAdmin(chatId),
      freeBytes,
      diskFull: freeBytes !== null && freeBytes < DISK_RESERVE_BYTES,
      ...(this.deps.ytDlp === undefined ? {} : { ytDlp: this.deps.ytDlp }),
      ...(this.deps.ytDlpVersion?.() ? { ytDlpVersion: this.deps.ytDlpVersion()! } : {}),
    };
  }

  // --- messages about items -------------------------------------------------------------------

  /** An item of this chat (items of other chats do not exist as far as a chat is concerned). */
  async find(itemId: number, chatId: number): Promise<Item | undefined> {
    const item = await findItem(this.deps.db, itemId);
    return item && item.chatId === chatId ? item : undefined;
  }

  /** The items a replied-to message is about. */
  itemsForMessage(chatId: number, messageId: number): Promise<Item[]> {
    return itemsForMessage(this.deps.db, chatId, messageId);
  }

  recordMessage(chatId: number, messageId: number, itemIds: readonly number[]): Promise<void> {
    return recordItemMessage(this.deps.db, chatId, messageId, itemIds, this.now());
  }

  // --- internals ------------------------------------------------------------------------------

  /**
   * /pause or /cancel of one item: the running one is stopped by the worker (which records and
   * reports the outcome) and looked at again once it let go: stopped, or back in line if a /pause
   * of the whole queue got there first (then it is stopped here), or finished after all. A waiting
   * one is moved by `stopWaiting`.
   */
  private stopOne(
    itemId: number,
    chatId: number,
    reason: "pause" | "cancel",
    stopWaiting: (item: Item) => Promise<ControlOutcome | undefined>,
  ): Promise<ControlOutcome> {
    const did = reason === "pause" ? "paused" : "cancelled";
    let stopped = false;
    return this.settle(itemId, chatId, async (item) => {
      if (item.status === did) {
        if (stopped) return { ok: true, item, did };
        if (reason === "pause") return { ok: false, item, why: "already-paused" };
      }
      if (isFinished(item.status)) return { ok: false, item, why: "finished" };
      if (isActive(item.status)) {
        if (stopped) return { ok: true, item, did };
        stopped = await this.deps.worker.stopItem(item.id, reason);
        return undefined;
      }
      return stopWaiting(item);
    });
  }

  /**
   * Runs `step` on the item as it is now; `step` returns undefined when the item changed under it
   * (claimed by the worker a moment ago, say), and is then run again on the fresh state.
   */
  private async settle(
    itemId: number,
    chatId: number,
    step: (item: Item) => Promise<ControlOutcome | undefined>,
  ): Promise<ControlOutcome> {
    for (let look = 0; look < LOOKS; look++) {
      const item = await this.find(itemId, chatId);
      if (!item) return { ok: false, why: "not-found" };
      const outcome = await step(item);
      if (outcome) return outcome;
    }
    return { ok: false, why: "busy" };
  }
}

import { promises as fs } from "node:fs";
import type { InlineKeyboardMarkup } from "grammy/types";
import type { MessageEditor } from "../bot/message-editor.ts";
import type { Db } from "../db/database.ts";
import { type Item, countQueued, findItem, queuePosition } from "../db/item-repository.ts";
import {
  cancelWaiting,
  countByStatus,
  countFinished,
  getSetting,
  itemsForMessage,
  listFinished,
  listOpenItems,
  pauseWaiting,
  putSetting,
  recordItemMessage,
  requeueFinished,
  resumePaused,
  retryNow,
  setPriority,
} from "../db/queue-control-repository.ts";
import type { Logger } from "../logger.ts";
import { itemDir } from "../storage/paths.ts";
import { escapeHtml, truncate } from "../text/format.ts";
import type { TransientNotices } from "./notices.ts";
import { renderProgress } from "./progress-view.ts";
import {
  PAGE_SIZE,
  PRIORITIES,
  type Page,
  type PriorityName,
  orderQueue,
  renderHistoryPage,
  renderQueuePage,
  renderStatus,
} from "./queue-view.ts";

/** What queue control needs of the worker. */
export interface ControlledWorker {
  readonly activeItemId: number | undefined;
  stopActive(itemId: number, reason: "cancel" | "pause" | "hold"): boolean;
  notify(): void;
}

export interface QueueControlDeps {
  db: Db;
  worker: ControlledWorker;
  editor: MessageEditor;
  notices: TransientNotices;
  dataDir: string;
  logger: Logger;
  freeBytes: (dir: string) => Promise<number>;
  /** The progress message's buttons (the same the worker shows). */
  keyboard: (item: Item, state: { paused: boolean }) => InlineKeyboardMarkup | undefined;
  now?: () => number;
}

export type ControlOutcome =
  | { ok: true; item: Item; did: "paused" | "resumed" | "cancelled" | "requeued" | "retry-now" | "priority" }
  | {
      ok: false;
      item?: Item;
      why: "not-found" | "finished" | "already-paused" | "not-paused" | "in-queue" | "delivered" | "busy";
      /** For a refused /retry: the item that has the same URL open now. */
      open?: Item;
    };

const QUEUE_PAUSED = "queue_paused";
const FINISHED = new Set(["completed", "failed", "cancelled"]);
/** How long a command waits for an item caught between two states (being claimed, say). */
const SETTLE_TRIES = 50;
const SETTLE_DELAY_MS = 20;
/** Handlers stop within a second; the worker then records the outcome. */
const RELEASE_TIMEOUT_MS = 3000;

const isRunning = (item: Item) => item.status === "downloading" || item.status === "uploading";

/**
 * What people do to the queue from the chat: pause, resume, cancel, retry and reorder items,
 * pause the whole queue. The worker owns the running item (it is stopped through `stopActive`
 * and the worker records the outcome); everything else changes in the database directly, each
 * change conditional on the state it starts from, so a command and the worker never overwrite
 * each other.
 */
export class QueueControl {
  private paused = false;
  private readonly now: () => number;

  constructor(private readonly deps: QueueControlDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Reads the persisted switches (call before the worker starts). */
  async load(): Promise<void> {
    this.paused = (await getSetting(this.deps.db, QUEUE_PAUSED)) === "1";
  }

  /** Whether the whole queue is paused; the worker asks before taking each item. */
  get queuePaused(): boolean {
    return this.paused;
  }

  // --- one item -------------------------------------------------------------------------------

  pause(itemId: number, chatId: number): Promise<ControlOutcome> {
    let stopped = false;
    return this.settle(itemId, chatId, async (item) => {
      if (item.status === "paused") return stopped ? { ok: true, item, did: "paused" } : { ok: false, item, why: "already-paused" };
      if (FINISHED.has(item.status)) return { ok: false, item, why: "finished" };
      if (isRunning(item)) {
        if (stopped) return { ok: true, item, did: "paused" };
        if (!this.deps.worker.stopActive(item.id, "pause")) return undefined;
        // Look again once the worker let go: paused, or back in line if a /pause of the whole
        // queue got there first (then it is paused below), or finished after all.
        stopped = true;
        await this.untilReleased(item.id);
        return undefined;
      }
      if (!(await pauseWaiting(this.deps.db, item.id, this.now()))) return undefined;
      const paused = { ...item, status: "paused" as const };
      await this.showWaiting(paused, "paused");
      return { ok: true, item: paused, did: "paused" };
    });
  }

  resume(itemId: number, chatId: number): Promise<ControlOutcome> {
    return this.settle(itemId, chatId, async (item) => {
      if (FINISHED.has(item.status)) return { ok: false, item, why: "finished" };
      if (item.status !== "paused") return { ok: false, item, why: "not-paused" };
      if (!(await resumePaused(this.deps.db, item.id, this.now()))) return undefined;
      const resumed = (await findItem(this.deps.db, item.id)) ?? item;
      this.deps.worker.notify();
      await this.showWaiting(resumed, "resumed");
      return { ok: true, item: resumed, did: "resumed" };
    });
  }

  cancel(itemId: number, chatId: number): Promise<ControlOutcome> {
    let stopped = false;
    return this.settle(itemId, chatId, async (item) => {
      if (item.status === "cancelled" && stopped) return { ok: true, item, did: "cancelled" };
      if (FINISHED.has(item.status)) return { ok: false, item, why: "finished" };
      if (isRunning(item)) {
        if (stopped) return { ok: true, item, did: "cancelled" };
        if (!this.deps.worker.stopActive(item.id, "cancel")) return undefined;
        // Look again once the worker let go: cancelled, or paused / back in line if a pause
        // was already stopping it (then it is cancelled below), or finished after all.
        stopped = true;
        await this.untilReleased(item.id);
        return undefined;
      }
      if (!(await cancelWaiting(this.deps.db, item.id, this.now()))) return undefined;
      // A paused or retry-waiting item may have bytes on disk.
      await fs.rm(itemDir(this.deps.dataDir, item.id), { recursive: true, force: true });
      this.deps.logger.info({ itemId: item.id }, "item cancelled while waiting");
      const cancelled = { ...item, status: "cancelled" as const };
      if (item.progressMessageId !== null) {
        const messageId = item.progressMessageId;
        const text = `✖️ <b>${escapeHtml(truncate(item.title, 200))}</b>: cancelled`;
        // Not awaited: the edit waits out the message's edit interval.
        void this.deps.editor.edit(item.chatId, messageId, { text }).then(() => {
          this.deps.editor.forget(item.chatId, messageId);
          this.deps.notices.schedule(item.chatId, messageId);
        });
      }
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
        if (await retryNow(this.deps.db, item.id, this.now())) {
          this.deps.worker.notify();
          return { ok: true, item, did: "retry-now" };
        }
        return { ok: false, item, why: "in-queue" };
      }
      if (isRunning(item)) return { ok: false, item, why: "in-queue" };
      const result = await requeueFinished(this.deps.db, item.id, this.now());
      if (!result.requeued) return result.open ? { ok: false, item, why: "in-queue", open: result.open } : undefined;
      this.deps.worker.notify();
      return { ok: true, item: (await findItem(this.deps.db, item.id)) ?? item, did: "requeued" };
    });
  }

  /** The worker takes higher priority first; the running item is never interrupted by this. */
  prioritise(itemId: number, chatId: number, level: PriorityName): Promise<ControlOutcome> {
    return this.settle(itemId, chatId, async (item) => {
      if (FINISHED.has(item.status)) return { ok: false, item, why: "finished" };
      if (!(await setPriority(this.deps.db, item.id, PRIORITIES[level], this.now()))) return undefined;
      this.deps.worker.notify();
      return { ok: true, item: { ...item, priority: PRIORITIES[level] }, did: "priority" };
    });
  }

  /** 1-based place of an item in the whole queue, as it is now (1 once it is running). */
  async position(item: Item): Promise<number> {
    const now = (await findItem(this.deps.db, item.id)) ?? item;
    return isRunning(now) ? 1 : queuePosition(this.deps.db, now);
  }

  // --- the whole queue ------------------------------------------------------------------------

  /**
   * Nothing starts until `resumeQueue`; the running transfer stops, keeps its bytes and goes back
   * in line (first in line, if nothing was ahead of it). Survives restarts.
   */
  async pauseQueue(): Promise<{ changed: boolean; heldItemId?: number }> {
    if (this.paused) return { changed: false };
    this.paused = true;
    await putSetting(this.deps.db, QUEUE_PAUSED, "1", this.now());
    const active = this.deps.worker.activeItemId;
    const held = active !== undefined && this.deps.worker.stopActive(active, "hold");
    this.deps.logger.info({ heldItemId: held ? active : undefined }, "queue paused");
    return held ? { changed: true, heldItemId: active } : { changed: true };
  }

  async resumeQueue(): Promise<{ changed: boolean }> {
    if (!this.paused) return { changed: false };
    this.paused = false;
    await putSetting(this.deps.db, QUEUE_PAUSED, "0", this.now());
    this.deps.worker.notify();
    this.deps.logger.info("queue resumed");
    return { changed: true };
  }

  // --- views ----------------------------------------------------------------------------------

  async queuePage(chatId: number, page: number): Promise<Page> {
    const entries = orderQueue(await listOpenItems(this.deps.db), this.deps.worker.activeItemId);
    return renderQueuePage(entries, { chatId, page, now: this.now(), queuePaused: this.paused });
  }

  async historyPage(chatId: number, page: number): Promise<Page> {
    const total = await countFinished(this.deps.db, chatId);
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    const p = Math.min(Math.max(0, page), pages - 1);
    const items = await listFinished(this.deps.db, chatId, p * PAGE_SIZE, PAGE_SIZE);
    return renderHistoryPage(items, { page: p, total, now: this.now() });
  }

  async status(chatId: number): Promise<string> {
    const activeId = this.deps.worker.activeItemId;
    const active = activeId !== undefined ? await findItem(this.deps.db, activeId) : undefined;
    const freeBytes = await this.deps.freeBytes(this.deps.dataDir).catch(() => null);
    return renderStatus({
      counts: await countByStatus(this.deps.db, chatId),
      queuePaused: this.paused,
      ...(active && active.chatId === chatId ? { active } : {}),
      activeElsewhere: active !== undefined && active.chatId !== chatId,
      freeBytes,
      dataDir: this.deps.dataDir,
    });
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
   * Runs `step` on the item as it is now; `step` returns undefined when the item changed under it
   * (claimed by the worker a moment ago, say), and is then run again on the fresh state.
   */
  private async settle(
    itemId: number,
    chatId: number,
    step: (item: Item) => Promise<ControlOutcome | undefined>,
  ): Promise<ControlOutcome> {
    for (let tries = 0; tries < SETTLE_TRIES; tries++) {
      const item = await findItem(this.deps.db, itemId);
      // Items of other chats do not exist as far as this chat is concerned.
      if (!item || item.chatId !== chatId) return { ok: false, why: "not-found" };
      const outcome = await step(item);
      if (outcome) return outcome;
      await new Promise((r) => setTimeout(r, SETTLE_DELAY_MS));
    }
    return { ok: false, why: "busy" };
  }

  /** Waits (a few seconds at most) until the worker is done with a stopped item and has recorded its state. */
  private async untilReleased(itemId: number): Promise<void> {
    const deadline = Date.now() + RELEASE_TIMEOUT_MS;
    while (this.deps.worker.activeItemId === itemId && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, SETTLE_DELAY_MS));
    }
  }

  /** Shows a waiting item's state on its progress message, if it has one. */
  private async showWaiting(item: Item, state: "paused" | "resumed"): Promise<void> {
    if (item.progressMessageId === null) return;
    const paused = state === "paused";
    let note: string | undefined;
    if (!paused) {
      const position = await queuePosition(this.deps.db, item);
      note = this.paused
        ? `Resumed: position ${position} in the queue; the whole queue is paused (/resume continues).`
        : `Resumed: position ${position} in the queue.`;
    }
    const text = renderProgress({
      title: item.title,
      phase: item.downloaded ? "uploading" : item.bytesDone > 0 ? "downloading" : "starting",
      bytesDone: item.bytesDone,
      totalBytes: item.sizeBytes,
      speed: null,
      waiting: await countQueued(this.deps.db),
      paused,
      queued: !paused,
      ...(note ? { note } : {}),
    });
    void this.deps.editor.edit(item.chatId, item.progressMessageId, { text, markup: this.deps.keyboard(item, { paused }) });
  }
}

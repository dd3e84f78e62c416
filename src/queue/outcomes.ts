import { complete, countQueued, fail, findItem, scheduleRetry, stop, waitForChoice } from "../db/item-repository.ts";
import { type AppError, DownloadError, type ErrorCode, type StopError } from "../errors.ts";
import type { ChoiceOffer } from "../items/choice.ts";
import type { Item, ItemStatus } from "../items/item.ts";
import type { Logger } from "../logger.ts";
import type { DoneSummary } from "../sources/source.ts";
import { type ItemFolderDeps, removeItemFolder } from "./item-folder.ts";
import type { OutcomeRecorder } from "./outcome-recorder.ts";
import type { TransferState } from "./events.ts";
import { decideRetry } from "./retry-policy.ts";
import type { WorkerDeps } from "./worker-deps.ts";

/** The stable code of an attempt that a stopped bot process cut short. */
export const INTERRUPTED: ErrorCode = "INTERRUPTED";

/**
 * The failure of an attempt the bot process did not live to finish (killed, out of memory, a
 * crash): retried like any other failure; the last one tells the chat what to do.
 */
export function interruptedError(attempt: number, attempts: number): DownloadError {
  return new DownloadError(INTERRUPTED, `the bot process stopped during attempt ${attempt} of ${attempts}`, {
    retryable: true,
    reason: { kind: "interrupted", attempt, attempts },
  });
}

/**
 * How an attempt ends: each outcome moves the item out of its active status (one of the items
 * repository's verbs), removes its folder when it ended for good, logs and reports. The worker
 * runs them through `OutcomeRecorder.settle`, which tries them again while the database refuses:
 * each may run more than once, and a second run finds its own earlier move.
 */
export class ItemOutcomes {
  private readonly now: () => number;
  private readonly folders: ItemFolderDeps;

  constructor(
    private readonly deps: Pick<WorkerDeps, "db" | "logger" | "config" | "now">,
    private readonly recorder: OutcomeRecorder,
  ) {
    this.now = deps.now ?? Date.now;
    this.folders = { db: deps.db, dataDir: deps.config.dataDir, logger: deps.logger };
  }

  private get attempts(): number {
    return this.deps.config.retryDelaysMs.length + 1;
  }

  /** Every file reached the chat. */
  async delivered(item: Item, result: { bytes: number; files: number }, log: Logger): Promise<void> {
    const delivered = await this.moved(item, "completed", complete(this.deps.db, item, this.now()));
    await removeItemFolder(this.folders, item.id);
    log.info(result, "item delivered");
    this.recorder.emit({ type: "delivered", item: delivered, ...result });
  }

  /** The source needs a choice first: the item waits for it (or its deadline), the next one runs. */
  async choosing(item: Item, offer: ChoiceOffer, log: Logger): Promise<void> {
    const deadline = this.now() + this.deps.config.chooseTimeoutMs;
    const waiting = await this.moved(item, "choosing", waitForChoice(this.deps.db, item, offer, deadline, this.now()));
    log.info({ offer: offer.kind, deadline }, "item waits for a choice");
    this.recorder.emit({ type: "choosing", item: waiting, offer, deadline });
  }

  /** Ended without an upload (a page whose files were queued as items of their own). */
  async done(item: Item, summary: DoneSummary, log: Logger): Promise<void> {
    const done = await this.moved(item, "completed", complete(this.deps.db, item, this.now()));
    await removeItemFolder(this.folders, item.id);
    log.info("item done without upload");
    this.recorder.emit({ type: "done", item: done, summary });
  }

  /** The attempt failed: it was counted when it started; retried after its delay, or failed for good. */
  async failed(item: Item, error: AppError, log: Logger): Promise<void> {
    const { db, config } = this.deps;
    const attempt = Math.max(1, item.attempts);
    const attempts = this.attempts;
    const decision = decideRetry(error, attempt, config.retryDelaysMs);
    // A full disk: what this item wrote goes first (a retry starts over, from 0 bytes), which also
    // gives the database the room to record the failure.
    const diskFull = error.code === "DISK_FULL";
    const failure = { attempts: attempt, errorCode: error.code, lastError: error.reason, ...(diskFull ? { bytesDone: 0 } : {}) };
    if (diskFull) await removeItemFolder(this.folders, item.id);
    if (decision.retry) {
      const queued = await this.moved(item, "queued", scheduleRetry(db, item.id, failure, this.now() + decision.delayMs, this.now()));
      log.warn({ code: error.code, err: error.message, attempt, retryInMs: decision.delayMs }, "attempt failed; retry scheduled");
      this.recorder.emit({ type: "retrying", item: queued, error, attempt, attempts, delayMs: decision.delayMs });
      return;
    }
    const failed = await this.moved(item, "failed", fail(db, item.id, failure, this.now()));
    await removeItemFolder(this.folders, item.id);
    log.warn({ code: error.code, err: error.message, attempts: attempt }, "item failed");
    this.recorder.emit({ type: "failed", item: failed, error });
  }

  /** Stopped on purpose (cancel, pause, hold, shutdown): not a failure, so the attempt is given back. */
  async stopped(item: Item, stopError: StopError, state: TransferState, log: Logger): Promise<void> {
    const { db } = this.deps;
    const reason = stopError.stop;
    // The paused view and /queue show how far it got, not the last periodic checkpoint.
    const progress = state.phase === "downloading" ? { bytesDone: state.bytesDone } : {};
    let stopped: Item;
    if (reason === "cancel") {
      stopped = await this.moved(item, "cancelled", stop(db, item, "cancelled", {}, this.now()));
      await removeItemFolder(this.folders, item.id);
    } else if (reason === "pause") {
      stopped = await this.moved(item, "paused", stop(db, item, "paused", progress, this.now()));
    } else {
      // Hold (the whole queue paused) or shutdown: back in line, bytes kept, so the item continues
      // from them as soon as the queue runs again.
      stopped = await this.moved(item, "queued", stop(db, item, "queued", { ...progress, readyAt: this.now() }, this.now()));
    }
    log.info({ reason }, reason === "shutdown" ? "item interrupted by shutdown; it resumes at the next start" : "item stopped");
    const waiting = await countQueued(db);
    this.recorder.emit({ type: "stopped", item: stopped, reason, wasRunning: true, waiting });
  }

  /** Claimed while the queue was being paused (or the worker stopped): back in line, its attempt unused. */
  async unclaimed(item: Item): Promise<void> {
    await this.moved(item, "queued", stop(this.deps.db, item, "queued", {}, this.now()));
  }

  /**
   * An item a previous process left active: that attempt ended when the process did. Back in
   * line after the retry delay, or failed once its attempts are used up, so a link that kills the
   * bot cannot do it for ever. True when the chat was told here (else `restored` tells it).
   */
  async interrupted(item: Item): Promise<boolean> {
    const { db, config, logger } = this.deps;
    const now = this.now();
    // Claimed by a version that did not count attempts at the claim: that run counts all the same.
    const attempt = Math.max(1, item.attempts);
    const attempts = this.attempts;
    const error = interruptedError(attempt, attempts);
    const decision = decideRetry(error, attempt, config.retryDelaysMs);
    const failure = { attempts: attempt, errorCode: error.code, lastError: error.reason };
    if (decision.retry) {
      const queued = await scheduleRetry(db, item.id, failure, now + decision.delayMs, now);
      if (!queued) return false;
      logger.info({ itemId: item.id, attempt, retryInMs: decision.delayMs }, "an item was interrupted by the end of the last process; retry scheduled");
      // Back at once: the restored message says it continues. Later: the message says when.
      if (decision.delayMs === 0) return false;
      this.recorder.emit({ type: "retrying", item: queued, error, attempt, attempts, delayMs: decision.delayMs });
      return true;
    }
    const failed = await fail(db, item.id, failure, now);
    if (!failed) return false;
    await removeItemFolder(this.folders, item.id);
    logger.warn({ itemId: item.id, code: error.code, attempts: attempt }, "item failed: the bot process stopped during each of its last attempts");
    this.recorder.emit({ type: "failed", item: failed, error });
    return true;
  }

  /** The running item as stored after `moving` it out of its active status (to `to`). */
  private async moved(item: Item, to: ItemStatus, moving: Promise<Item | undefined>): Promise<Item> {
    const moved = await moving;
    if (moved) return moved;
    // Only the worker moves an active item: either a recording tried again finds its own earlier
    // write (which went in, and only the read after it failed), or the row changed under us.
    const row = await findItem(this.deps.db, item.id);
    if (row?.status !== to) this.deps.logger.warn({ itemId: item.id, to }, "the running item was no longer active");
    return row ?? item;
  }
}

import { claimNextItem, countQueued, listItems, nextReadyAt } from "../db/item-repository.ts";
import { choose, expiredChoices, nextChoiceDeadline } from "../db/choice-repository.ts";
import { getSetting, putSetting } from "../db/settings-repository.ts";
import { StopError, toAppError } from "../errors.ts";
import { ACTIVE_STATUSES, type Item } from "../items/item.ts";
import { abortableSleep, settlesWithin } from "../util/async.ts";
import { releaseAfterItem } from "../util/buffer-release.ts";
import { ActiveItem } from "./active-item.ts";
import { removeOrphanFolders } from "./item-folder.ts";
import { ItemRun } from "./item-run.ts";
import { OutcomeRecorder, errorText } from "./outcome-recorder.ts";
import { ItemOutcomes } from "./outcomes.ts";
import type { StopReason } from "./events.ts";
import type { WorkerDeps } from "./worker-deps.ts";

// The uploader's types, where the chat side that implements them has always found them.
export type { FileUploader, GroupUploader, WorkerDeps } from "./worker-deps.ts";

/** The settings key of the whole queue's pause switch. */
const QUEUE_PAUSED = "queue_paused";

/** How often a worker held up by a full disk looks for free space again. */
const DISK_POLL_MS = 2000;

/**
 * The queue's single worker: takes the next ready item, runs it to the end (download, upload) and
 * decides what a failure means, announcing each step on the `QueueEvents` stream. One item at a time,
 * highest priority then oldest first. It sleeps on a promise while idle (no polling), woken by
 * `notify()` or by the next scheduled retry. It owns the running item and the queue's pause
 * switch: everyone else stops the running item through `stopItem`, which settles once the outcome
 * is recorded. This is the loop; running one item is `ItemRun`, how it ends `ItemOutcomes`.
 */
export class QueueWorker {
  private readonly now: () => number;
  private readonly stopping = new AbortController();
  private readonly recorder: OutcomeRecorder;
  private readonly outcomes: ItemOutcomes;
  private readonly runner: ItemRun;
  private loop?: Promise<void>;
  private active?: ActiveItem;
  /** The claim in flight: until it settles, the database may show an item active that `active` does not hold yet. */
  private claiming?: Promise<Item | undefined>;
  private paused = false;
  /** Nothing starts for lack of disk space (said once in the log, not at every look). */
  private diskWait = false;
  private dirty = false;
  private wake?: () => void;

  constructor(private readonly deps: WorkerDeps) {
    this.now = deps.now ?? Date.now;
    this.recorder = new OutcomeRecorder(deps);
    this.outcomes = new ItemOutcomes(deps, this.recorder);
    this.runner = new ItemRun(deps, this.recorder, this.outcomes);
  }

  /**
   * Reads the pause switch, settles the items a previous process left active (their attempt was
   * counted when it started: it failed, and is retried or failed for good like any other), then
   * starts the loop. A full disk does not stop it: what cannot be written now is written by the loop.
   */
  async start(): Promise<void> {
    const { db, logger } = this.deps;
    this.paused = (await getSetting(db, QUEUE_PAUSED)) === "1";
    await removeOrphanFolders({ db, dataDir: this.deps.config.dataDir, logger });
    if (await this.deps.disk.isFull()) {
      logger.warn({ dir: this.deps.disk.dir }, "the data disk is full: nothing is downloaded until space is freed");
    }
    // Items whose message start() already brought up to date.
    const told = new Set<number>();
    for (const item of await listItems(db, { statuses: ACTIVE_STATUSES })) {
      const settle = async () => {
        if (await this.outcomes.interrupted(item)) told.add(item.id);
      };
      try {
        await this.recorder.withRoom(settle);
      } catch (error) {
        // The loop settles it once the database can write again.
        this.recorder.leaveToLoop(item.id, settle);
        logger.error({ itemId: item.id, err: errorText(error) }, "could not settle an interrupted item yet");
      }
    }
    await this.deps.disk.restoreBallast();
    // Before anything runs: what the previous process left showing is brought up to date.
    const waiting = await countQueued(db);
    await this.recorder.emitAndWait({ type: "recovered", queuePaused: this.paused, waiting, settled: [...told] });
    this.loop = this.run();
  }

  /** Stops taking items, checkpoints the running one (its bytes stay on disk) and waits for it. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.stopping.abort();
    this.abortActive(new StopError("shutdown"));
    this.wake?.();
    if (this.loop) await settlesWithin(this.loop, timeoutMs);
  }

  /** Something changed (an item was added, resumed, reprioritised): look again at once. */
  notify(): void {
    this.dirty = true;
    this.wake?.();
  }

  get activeItemId(): number | undefined {
    return this.active?.item.id;
  }

  get queuePaused(): boolean {
    return this.paused;
  }

  /**
   * Stops the running transfer of `itemId` (within a second: every handler honours the signal;
   * an upload whose bytes all went out first gets Telegram's answer, 1.5 s at most, so it is
   * recorded) and resolves once the worker has recorded the outcome. Resolves false when that
   * item is not the one running. When another stop got there first, that one's outcome stands.
   */
  async stopItem(itemId: number, reason: Exclude<StopReason, "shutdown">): Promise<boolean> {
    await this.claiming?.catch(() => undefined);
    const active = this.active;
    if (!active || active.item.id !== itemId) return false;
    this.abortActive(new StopError(reason));
    await active.released;
    return true;
  }

  /**
   * Fails the running attempt with `error` (an exception no callback caught, most likely thrown
   * by this item's transfer): recorded and retried like any failure, so the item cannot hang
   * half-way, nor take the process down. False when nothing runs. An upload whose bytes all went
   * out gets Telegram's answer first, as a stop does: aborting at once would lose the record of a
   * file that was delivered, and send it again on the retry.
   */
  failActive(error: unknown): boolean {
    return this.active?.abort(toAppError(error), this.abortFailed) ?? false;
  }

  /**
   * Nothing starts until `resumeQueue`; the running transfer stops, keeps its bytes and goes back
   * in line. Survives restarts. Resolves once the running item (if any) is back in line.
   */
  async pauseQueue(): Promise<{ changed: boolean; heldItemId?: number }> {
    if (this.paused) return { changed: false };
    this.paused = true;
    await putSetting(this.deps.db, QUEUE_PAUSED, "1", this.now());
    await this.claiming?.catch(() => undefined);
    const active = this.active;
    this.deps.logger.info({ heldItemId: active?.item.id }, "queue paused");
    if (!active) return { changed: true };
    await this.stopItem(active.item.id, "hold");
    return { changed: true, heldItemId: active.item.id };
  }

  async resumeQueue(): Promise<{ changed: boolean }> {
    if (!this.paused) return { changed: false };
    this.paused = false;
    await putSetting(this.deps.db, QUEUE_PAUSED, "0", this.now());
    this.notify();
    this.deps.logger.info("queue resumed");
    return { changed: true };
  }

  // --- the loop -----------------------------------------------------------------------------------

  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      try {
        await this.turn();
      } catch (error) {
        // Each step handles its own failures; this is a bug. The loop must outlive it.
        this.deps.logger.error({ err: errorText(error) }, "the queue loop failed; going on");
        await this.sleep(1000);
      }
    }
  }

  /** One go round the loop: record what is pending, else run the next item, else wait for one. */
  private async turn(): Promise<void> {
    const { logger } = this.deps;
    this.dirty = false;
    // An outcome the database could not take (a full disk) goes in before anything new starts.
    if (this.recorder.hasPending && !(await this.recorder.recordPending())) {
      await this.sleep(5000);
      return;
    }
    // An item that failed for a full disk would fail again at once while it is still full, and
    // use up its attempts for nothing: it waits for room instead (a new item still starts, and
    // tells its chat why it cannot download; files on disk already still go up, which frees space).
    const diskFull = await this.deps.disk.isFull();
    if (diskFull !== this.diskWait) {
      this.diskWait = diskFull;
      if (diskFull) logger.warn({ dir: this.deps.disk.dir }, "the data disk is full: items that failed for it wait until space is freed");
      else logger.info("the data disk has room again");
    }
    // Questions nobody answered in time go on with the default, back in line at their place.
    await this.expireChoices().catch((error: unknown) => logger.error({ err: errorText(error) }, "could not time out the questions"));
    let item: Item | undefined;
    this.claiming = this.claim(diskFull);
    try {
      item = await this.claiming;
    } catch (error) {
      logger.error({ err: errorText(error) }, "could not read the queue");
      await this.sleep(1000);
      return;
    } finally {
      this.claiming = undefined;
    }
    if (!item) {
      await this.waitForWork(diskFull);
      return;
    }
    const active = this.active!;
    const log = logger.child({ itemId: item.id });
    try {
      await this.runner.run(active, log);
    } catch (error) {
      // run() records every outcome itself; reaching here is a bug. The attempt fails like
      // any other rather than leave the item "running" with nothing running it.
      log.error({ err: errorText(error) }, "item processing crashed");
      await this.recorder.settle(item, () => this.outcomes.failed(item, toAppError(error), log), log);
    } finally {
      this.active = undefined;
      active.release();
      // Not on the way out: a stop should not wait for a collection.
      if (!this.stopping.signal.aborted) releaseAfterItem();
    }
    // Given up when the disk was full: back once there is room again.
    if (!this.stopping.signal.aborted) await this.deps.disk.restoreBallast();
  }

  /** Takes the next ready item and makes it the active one, unless the queue is paused. */
  private async claim(diskFull: boolean): Promise<Item | undefined> {
    if (this.paused || this.stopping.signal.aborted) return undefined;
    const item = await claimNextItem(this.deps.db, this.now(), { skipDiskFull: diskFull });
    if (!item) return undefined;
    if (this.paused || this.stopping.signal.aborted) {
      // Paused (or stopping) while this item was being claimed: back in line, its attempt unused.
      const log = this.deps.logger.child({ itemId: item.id });
      await this.recorder.settle(item, () => this.outcomes.unclaimed(item), log);
      return undefined;
    }
    this.active = new ActiveItem(item);
    return item;
  }

  /** Sleeps until notified, or until the next retry is due (with a full disk, looks again every few seconds). */
  private async waitForWork(diskFull = false): Promise<void> {
    if (this.dirty || this.stopping.signal.aborted) return;
    const times = [this.paused ? undefined : await nextReadyAt(this.deps.db), await nextChoiceDeadline(this.deps.db)].filter((t) => t !== undefined);
    const next = times.length ? Math.min(...times) : undefined;
    let delay = next === undefined ? undefined : Math.max(0, next - this.now());
    // Items are ready but wait for room: statfs is cheap, a notice of freed space does not exist.
    if (diskFull && delay !== undefined) delay = Math.max(delay, DISK_POLL_MS);
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      if (this.dirty || this.stopping.signal.aborted) return done();
      if (delay !== undefined) timer = setTimeout(done, Math.min(delay, 2 ** 31 - 1));
    });
  }

  /** Items whose question timed out: the default choice, announced, and back in line. */
  private async expireChoices(): Promise<void> {
    const now = this.now();
    for (const waiting of await expiredChoices(this.deps.db, now)) {
      const choice = { kind: "default", timedOut: true } as const;
      const queued = await choose(this.deps.db, waiting, choice, now);
      if (!queued) continue;
      this.deps.logger.info({ itemId: queued.id }, "nobody chose in time: going on with the default");
      this.deps.events.emit({ type: "chosen", item: queued, choice, timedOut: true });
    }
  }

  /** A pause in the loop that `stop()` cuts short. */
  private sleep(ms: number): Promise<void> {
    return abortableSleep(ms, this.stopping.signal);
  }

  /** Aborts the running item, after the pending answer to its upload if there is one. */
  private abortActive(stop: StopError): void {
    this.active?.abort(stop, this.abortFailed);
  }

  private readonly abortFailed = (error: unknown) =>
    this.deps.logger.error({ err: errorText(error) }, "could not stop the running item");
}

import { isDiskFull } from "../errors.ts";
import type { Item } from "../items/item.ts";
import type { Logger } from "../logger.ts";
import type { DataDisk } from "../storage/data-disk.ts";
import { abortableSleep } from "../util/async.ts";
import type { QueueEvent, QueueEvents } from "./events.ts";

/**
 * How long a refused write of an attempt's outcome (a full disk, a lock held too long) is tried
 * again before the loop takes it over: the waits before each new try.
 */
const RECORD_RETRY_MS = [250, 1000, 2000, 4000];

export const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Writes that must go in although the database may refuse them for a while (a full disk gives up
 * its ballast first), and the outcomes it refused for longer than the worker waits: the loop
 * records those before anything new starts. Also announces what happened on the event stream.
 */
export class OutcomeRecorder {
  /**
   * Outcomes the database refused for longer than the worker waited (a full disk): each records
   * and reports one item's end. The item's row says "active" meanwhile, and only one item may be.
   */
  private readonly pending = new Map<number, () => Promise<void>>();

  constructor(private readonly deps: { disk: DataDisk; logger: Logger; events: QueueEvents }) {}

  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /** Leaves `outcome` of `itemId` to the loop, which records it before anything new starts. */
  leaveToLoop(itemId: number, outcome: () => Promise<void>): void {
    this.pending.set(itemId, outcome);
  }

  /** Runs a database write; when the disk is full, gives up the ballast and tries once more. */
  async withRoom<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (!isDiskFull(error) || !(await this.deps.disk.releaseBallast())) throw error;
      return write();
    }
  }

  /** Runs a database write; one the database refuses (a full disk, a lock held too long) is tried again for a few seconds. */
  async persist<T>(write: () => Promise<T>, log: Logger): Promise<T> {
    for (let round = 0; ; round++) {
      try {
        return await this.withRoom(write);
      } catch (error) {
        const wait = RECORD_RETRY_MS[round];
        if (wait === undefined) throw error;
        log.warn({ err: errorText(error), retryInMs: wait }, "the database refused a write; trying again");
        await abortableSleep(wait);
      }
    }
  }

  /**
   * Records the end of an item's attempt (`outcome`: its move, files and report), tried again
   * while the database refuses; after a few seconds the loop takes it over, and nothing new
   * starts until it went in. Never throws.
   */
  async settle(item: Item, outcome: () => Promise<void>, log: Logger): Promise<void> {
    try {
      await this.persist(outcome, log);
    } catch (error) {
      log.error({ err: errorText(error) }, "could not record the outcome of the attempt; the loop tries again");
      this.leaveToLoop(item.id, outcome);
    }
  }

  /** Records the outcomes the database refused so far; true once none is left. */
  async recordPending(): Promise<boolean> {
    for (const [itemId, outcome] of [...this.pending]) {
      try {
        await this.withRoom(outcome);
        this.pending.delete(itemId);
        this.deps.logger.info({ itemId }, "recorded the outcome the database refused before");
      } catch (error) {
        this.deps.logger.error({ itemId, err: errorText(error) }, "could not record an item's outcome yet");
      }
    }
    return this.pending.size === 0;
  }

  /** Announces an event. Not the item's outcome: a listener's failure is only logged (by the stream). */
  emit(event: QueueEvent): void {
    this.deps.events.emit(event);
  }

  /** Announces an event and waits until its listeners are done with it (a notice ahead of the files). */
  emitAndWait(event: QueueEvent): Promise<void> {
    return this.deps.events.emitAndWait(event);
  }

}

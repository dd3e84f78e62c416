import type { Db } from "../db/database.ts";
import { findSubscription, nextDueCheck } from "../db/subscription-repository.ts";
import { StopError, toAppError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { abortableSleep } from "../util/async.ts";
import type { CheckResult, CheckTrigger, Subscription } from "./subscription.ts";

/**
 * The time the scheduler goes by: the system's, or one a test moves by hand. `sleep` resolves
 * after `ms` of its time, or at once when `signal` aborts, and never rejects.
 */
export interface Clock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** Longest one sleep of the system clock: a suspended machine or a changed clock is noticed within it. */
const MAX_SLEEP_MS = 60 * 60_000;

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => abortableSleep(Math.min(Math.max(0, ms), MAX_SLEEP_MS), signal),
};

export interface SchedulerDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  /** Only these chats' subscriptions are checked (`allowedChatIds`). */
  chatIds: readonly number[];
  /** Runs one check (see `checker.ts`); the scheduler runs them one at a time. */
  check: (subscription: Subscription, trigger: CheckTrigger, signal: AbortSignal) => Promise<CheckResult>;
}

/** After a check that failed in a way that is not the source's (the database refused), the loop waits this long. */
const AFTER_FAULT_MS = 60_000;

/**
 * Runs each subscription's check when its `next_check_at` comes, from the database, so a check
 * that fell due while the bot was down runs at the next start. Checks run one at a time, never
 * several at once as a burst; `/check` joins the line, and a check already running or waiting for
 * the same subscription is joined rather than run twice. `start()`/`stop()`, as the worker.
 */
export class SubscriptionScheduler {
  private readonly stopping = new AbortController();
  /** Aborted to make the loop look at the schedule again (a /watch, a finished check). */
  private wakeup = new AbortController();
  /** One check at a time: each waits for the one before. */
  private line: Promise<unknown> = Promise.resolve();
  /** Checks waiting or running, by subscription. */
  private readonly pending = new Map<number, Promise<CheckResult | undefined>>();
  private loop: Promise<void> | undefined;

  constructor(private readonly deps: SchedulerDeps) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops the loop, aborts the running check (what it queued stays queued) and waits for both. */
  async stop(): Promise<void> {
    this.stopping.abort(new StopError("shutdown"));
    this.wakeup.abort();
    await this.loop;
    await Promise.allSettled([...this.pending.values()]);
  }

  /** Looks at the schedule again now (a subscription was added or changed). */
  wake(): void {
    this.wakeup.abort();
  }

  /**
   * The chat's subscription `id` checked now, or joined when its check is already running or
   * waiting; undefined when the chat has no such subscription (or it went meanwhile).
   */
  checkNow(chatId: number, id: number, trigger: CheckTrigger = "manual"): Promise<CheckResult | undefined> {
    return this.enqueue(chatId, id, trigger);
  }

  /** Whether the subscription's check is running or waiting its turn. */
  isChecking(id: number): boolean {
    return this.pending.has(id);
  }

  private enqueue(chatId: number, id: number, trigger: CheckTrigger): Promise<CheckResult | undefined> {
    const joined = this.pending.get(id);
    if (joined) return joined;
    const check = this.line.then(async () => {
      if (this.stopping.signal.aborted) return undefined;
      const sub = await findSubscription(this.deps.db, chatId, id);
      if (!sub) return undefined;
      return this.deps.check(sub, trigger, this.stopping.signal);
    });
    this.line = check.catch(() => {});
    this.pending.set(id, check);
    void check
      .catch(() => {})
      .finally(() => {
        if (this.pending.get(id) === check) this.pending.delete(id);
        this.wake();
      });
    return check;
  }

  private async run(): Promise<void> {
    const { clock, logger } = this.deps;
    while (!this.stopping.signal.aborted) {
      if (this.wakeup.signal.aborted) this.wakeup = new AbortController();
      const wakeup = this.wakeup.signal;
      try {
        const due = await nextDueCheck(this.deps.db, this.deps.chatIds);
        const wait = due ? due.nextCheckAt - clock.now() : Number.POSITIVE_INFINITY;
        if (!due || wait > 0 || this.pending.has(due.id)) {
          // Nothing due (or it is being checked): until the next one is, or something changes.
          await clock.sleep(due && !this.pending.has(due.id) ? wait : MAX_SLEEP_MS, wakeup);
          continue;
        }
        await this.enqueue(due.chatId, due.id, "schedule");
      } catch (error) {
        if (this.stopping.signal.aborted) break;
        logger.error({ err: toAppError(error).message }, "a subscription check failed unexpectedly");
        await clock.sleep(AFTER_FAULT_MS, this.stopping.signal);
      }
    }
  }
}

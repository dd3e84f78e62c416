import type { SubscriptionEvent } from "../../src/subscriptions/events.ts";
import type { Clock } from "../../src/subscriptions/scheduler.ts";
import { Waitlist } from "./waitlist.ts";

/**
 * The subscriptions' clock, moved by the test: `advance` is the only way its time passes, and
 * it wakes every sleep whose time came. It starts at the real time (feeds' dates are written
 * relative to it) and outlives an app, so a restart keeps the time where it was.
 */
export class ManualClock implements Clock {
  private time: number;
  private readonly sleepers = new Set<{ at: number; wake: () => void }>();

  constructor(start = Date.now()) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted || ms <= 0) return resolve();
      const sleeper = {
        at: this.time + ms,
        wake: () => {
          this.sleepers.delete(sleeper);
          signal.removeEventListener("abort", sleeper.wake);
          resolve();
        },
      };
      this.sleepers.add(sleeper);
      signal.addEventListener("abort", sleeper.wake, { once: true });
    });
  }

  /** Moves the time on by `ms`, waking every sleep that ends by then. */
  advance(ms: number): void {
    this.time += ms;
    for (const sleeper of [...this.sleepers]) if (sleeper.at <= this.time) sleeper.wake();
  }
}

/** Records the app's subscription checks, to wait for one instead of sleeping. */
export class CheckRecorder {
  readonly events: SubscriptionEvent[] = [];
  private readonly waiters = new Waitlist<SubscriptionEvent>();

  /** For `AppOptions.subscriptions.onCheck` (every app of a test, restarts included). */
  readonly listener = (event: SubscriptionEvent): void => {
    this.events.push(event);
    this.waiters.notify(event);
  };

  /** The first check from the `since`th on (0-based) that matches. */
  next(since: number, pred: (e: SubscriptionEvent) => boolean = () => true, timeoutMs = 30_000): Promise<SubscriptionEvent> {
    return this.waiters.wait(this.events.slice(since), pred, timeoutMs, () => `no matching subscription check within ${timeoutMs} ms (${this.events.length} so far)`);
  }
}

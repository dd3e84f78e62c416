import type { Logger } from "../logger.ts";
import { settlesWithin } from "../util/async.ts";

/**
 * Keeps track of work in flight (every update's handling, and slow work a button starts off the
 * update), so that shutdown can let it finish before the database closes.
 */
export class TaskRunner {
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly logger: Logger) {}

  /** Runs `task` without waiting for it; a failure is logged. */
  run(name: string, task: () => Promise<unknown>): void {
    const promise = task().then(
      () => undefined,
      (error) => this.logger.error({ err: error, task: name }, "background task failed"),
    );
    this.running.add(promise);
    void promise.finally(() => this.running.delete(promise));
  }

  /** Tracks `promise` and hands it back unchanged (its error still goes to whoever awaits it). */
  track<T>(promise: Promise<T>): Promise<T> {
    const settled = promise.then(
      () => undefined,
      () => undefined,
    );
    this.running.add(settled);
    void settled.finally(() => this.running.delete(settled));
    return promise;
  }

  async drain(timeoutMs: number): Promise<void> {
    await settlesWithin(Promise.allSettled([...this.running]), timeoutMs);
  }
}

import type { Logger } from "../logger.ts";

/**
 * Runs work outside grammY's update loop (every update, see detached-updates.ts, and slow work a
 * button starts), tracked so that shutdown can wait for it.
 */
export class TaskRunner {
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly logger: Logger) {}

  run(name: string, task: () => Promise<unknown>): void {
    const promise = task().then(
      () => undefined,
      (error) => this.logger.error({ err: error, task: name }, "background task failed"),
    );
    this.running.add(promise);
    void promise.finally(() => this.running.delete(promise));
  }

  async drain(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.running]), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }
}

/**
 * A list of pending "wait until something matching shows up" promises.
 *
 * Both test doubles record what happens to them (calls, requests, progress) and let a test
 * await a matching record instead of sleeping. Checking the records already seen and then
 * subscribing happens synchronously, so nothing can slip in between.
 */
interface Pending<T> {
  pred: (item: T) => boolean;
  resolve: (item: T) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class Waitlist<T> {
  private readonly pending = new Set<Pending<T>>();

  /**
   * Resolves with the first item of `existing` matching `pred`, or else with the first matching
   * item later passed to `notify`. Rejects after `timeoutMs` with `describeTimeout()`'s message.
   */
  wait(
    existing: Iterable<T>,
    pred: (item: T) => boolean,
    timeoutMs: number,
    describeTimeout: () => string,
  ): Promise<T> {
    for (const item of existing) if (pred(item)) return Promise.resolve(item);
    return new Promise<T>((resolve, reject) => {
      const entry: Pending<T> = {
        pred,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.pending.delete(entry);
          reject(new Error(describeTimeout()));
        }, timeoutMs),
      };
      this.pending.add(entry);
    });
  }

  /** Offers a new (or updated) item to every waiter; matching waiters resolve. */
  notify(item: T): void {
    for (const entry of [...this.pending]) {
      let matched = false;
      try {
        matched = entry.pred(item);
      } catch (err) {
        // A throwing predicate is a test bug: surface it instead of timing out later.
        this.settle(entry);
        entry.reject(err instanceof Error ? err : new Error(String(err)));
        continue;
      }
      if (matched) {
        this.settle(entry);
        entry.resolve(item);
      }
    }
  }

  /** Fails every pending wait, e.g. because the double is being stopped. */
  rejectAll(reason: string): void {
    for (const entry of [...this.pending]) {
      this.settle(entry);
      entry.reject(new Error(reason));
    }
  }

  private settle(entry: Pending<T>): void {
    clearTimeout(entry.timer);
    this.pending.delete(entry);
  }
}

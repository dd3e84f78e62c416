import { type Api, GrammyError } from "grammy";
import type { Logger } from "../logger.ts";

/**
 * Deletes transient bot messages (acknowledgements like "Queued #4", completion lines, answers
 * to /cancel...) after a while, so the chat keeps the files and little else.
 *
 * Timers live in memory: a notice whose time comes after a restart simply stays. `stop()` clears
 * every timer so shutdown is not held up by them.
 */
export class TransientNotices {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Deleted by this process (bounded: only the latest are remembered). */
  private readonly deleted = new BoundedSet<string>(1000);
  private stopped = false;

  /**
   * @param ttlMs how long a notice stays; 0 keeps notices for good.
   */
  constructor(
    private readonly api: Pick<Api, "deleteMessage">,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {}

  /** Deletes the message after `ttlMs` (the configured time by default). */
  schedule(chatId: number, messageId: number, ttlMs = this.ttlMs): void {
    if (this.stopped || ttlMs <= 0) return;
    const key = `${chatId}:${messageId}`;
    clearTimeout(this.timers.get(key));
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.deleted.add(key);
      void this.delete(chatId, messageId);
    }, ttlMs);
    timer.unref();
    this.timers.set(key, timer);
  }

  /** Keeps a message that was scheduled for deletion (it became important after all). */
  keep(chatId: number, messageId: number): void {
    const key = `${chatId}:${messageId}`;
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    this.deleted.delete(key);
  }

  /** Whether this message was deleted as a notice (it cannot be shown again). */
  wasDeleted(chatId: number, messageId: number): boolean {
    return this.deleted.has(`${chatId}:${messageId}`);
  }

  get pending(): number {
    return this.timers.size;
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private async delete(chatId: number, messageId: number): Promise<void> {
    try {
      await this.api.deleteMessage(chatId, messageId);
    } catch (error) {
      // Someone deleted it already, or it is too old to delete (48 h): nothing left to do.
      const gone = error instanceof GrammyError && error.error_code === 400;
      this.logger[gone ? "debug" : "warn"](
        { chatId, messageId, err: error instanceof Error ? error.message : String(error) },
        "could not delete a transient notice",
      );
    }
  }
}

/** A set that forgets its oldest entries past `limit` (weeks of notices must not pile up). */
class BoundedSet<T> {
  private readonly items = new Set<T>();
  constructor(private readonly limit: number) {}
  add(item: T): void {
    this.items.add(item);
    if (this.items.size > this.limit) this.items.delete(this.items.values().next().value as T);
  }
  has(item: T): boolean {
    return this.items.has(item);
  }
  delete(item: T): void {
    this.items.delete(item);
  }
}

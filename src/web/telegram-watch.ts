import type { Api } from "grammy";

/** A long poll (30 s) may take this long before polling counts as stuck. */
const POLL_LIMIT_MS = 60_000;
/** Between two polls there is a moment with none under way: this long at most. */
const POLL_GAP_MS = 5_000;

/**
 * What the web side learns from the bot's own calls to Telegram, by one API transformer (the
 * outermost, so it sees what the call finally came to, after the retry plugins): whether polling
 * is alive, and how many calls Telegram answered with an error, by method.
 */
export class TelegramWatch {
  private polling = 0;
  private pollingSince = 0;
  private lastOk = 0;
  private lastFailed = 0;
  /** Errors by method and code ("network" when no answer came). */
  readonly errors = new Map<string, { method: string; code: string; count: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  install(api: Api): void {
    api.config.use(async (prev, method, payload, signal) => {
      const poll = method === "getUpdates";
      if (poll && this.polling++ === 0) this.pollingSince = this.now();
      let ok = false;
      try {
        const result = await prev(method, payload, signal);
        ok = result.ok;
        if (!result.ok) this.count(method, String(result.error_code));
        return result;
      } catch (error) {
        // A call stopped on purpose (the runner's stop) is not Telegram's error.
        if (!signal?.aborted) this.count(method, "network");
        throw error;
      } finally {
        if (poll) {
          this.polling--;
          if (ok) this.lastOk = this.now();
          else this.lastFailed = this.now();
        }
      }
    });
  }

  /**
   * Whether the bot polls Telegram now: a poll is under way (not for longer than a long poll
   * takes) or one just came back, and the last one that came back was answered. Polling that
   * ended (a revoked token, stop()) or that keeps failing (Telegram unreachable) is not alive.
   */
  pollingAlive(): boolean {
    const now = this.now();
    if (this.lastFailed > this.lastOk) return false;
    if (this.polling > 0) return now - this.pollingSince < POLL_LIMIT_MS;
    return this.lastOk > 0 && now - this.lastOk < POLL_GAP_MS;
  }

  private count(method: string, code: string): void {
    const key = `${method} ${code}`;
    const entry = this.errors.get(key) ?? { method, code, count: 0 };
    entry.count++;
    this.errors.set(key, entry);
  }
}

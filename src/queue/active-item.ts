import type { AppError } from "../errors.ts";
import type { Item } from "../items/item.ts";
import { settlesWithin } from "../util/async.ts";

/** How long a stop waits for Telegram's answer to an upload whose bytes all went out. */
export const ANSWER_GRACE_MS = 1500;

/**
 * The item the worker is running: its abort switch, and a promise that settles once the worker
 * has recorded its outcome and let go of it.
 */
export class ActiveItem {
  readonly controller = new AbortController();
  /** Settles once the worker has recorded the item's outcome and let go of it. */
  readonly released: Promise<void>;
  readonly release: () => void;
  /**
   * Set once every byte of the file being uploaded went out and only Telegram's answer is
   * missing: aborting then would lose the record of an upload that happened (it would go up a
   * second time), so a stop waits for the answer first (a little while at most).
   */
  private answer?: Promise<void>;
  /** The stop or failure asked for while an answer was awaited; applied once it came. */
  private deferred?: AppError;

  constructor(readonly item: Item) {
    let release!: () => void;
    this.released = new Promise<void>((r) => (release = r));
    this.release = release;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Every byte of an upload went out: a stop waits for `answer` (Telegram's) before it aborts. */
  awaitingAnswer(answer: Promise<void>): void {
    this.answer ??= answer;
  }

  /** The upload's answer came (or it failed): a stop aborts at once again. */
  answered(): void {
    this.answer = undefined;
  }

  /**
   * Aborts the transfer with `reason`, after the pending answer to its upload if there is one
   * (`ANSWER_GRACE_MS` at most). The first reason wins, as an abort's would. False when it was
   * already aborted.
   */
  abort(reason: AppError, onError: (error: unknown) => void): boolean {
    if (this.signal.aborted) return false;
    if (this.deferred) return true;
    const answer = this.answer;
    if (!answer) {
      this.controller.abort(reason);
      return true;
    }
    this.deferred = reason;
    void settlesWithin(answer, ANSWER_GRACE_MS)
      .then(() => this.controller.abort(reason))
      .catch(onError);
    return true;
  }
}

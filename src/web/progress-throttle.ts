/**
 * Thins one listener's stream of an item's progress to one event per `intervalMs` per item, the
 * newest state winning: the first progress goes at once, later ones wait for the interval's end,
 * and only the last of them goes then. Any other event about the item goes at once and drops the
 * progress still waiting (it is older than what that event says), so order is kept.
 */
export interface Timers {
  now(): number;
  /** Runs `fn` after `ms`; the function returned cancels it. */
  after(ms: number, fn: () => void): () => void;
}

const realTimers: Timers = {
  now: Date.now,
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

interface ItemState<E> {
  sentAt: number;
  pending?: E;
  cancel?: () => void;
}

export class ProgressThrottle<E> {
  private readonly items = new Map<number, ItemState<E>>();

  constructor(
    private readonly send: (event: E) => void,
    private readonly intervalMs = 1000,
    private readonly timers: Timers = realTimers,
  ) {}

  /** A progress event of the item: sent now, or later if one went less than the interval ago. */
  progress(itemId: number, event: E): void {
    const now = this.timers.now();
    const state = this.items.get(itemId);
    if (!state || now - state.sentAt >= this.intervalMs) {
      state?.cancel?.();
      this.items.set(itemId, { sentAt: now });
      this.send(event);
      return;
    }
    state.pending = event;
    state.cancel ??= this.timers.after(state.sentAt + this.intervalMs - now, () => {
      const pending = state.pending;
      this.items.set(itemId, { sentAt: this.timers.now() });
      if (pending !== undefined) this.send(pending);
    });
  }

  /** Any other event of the item: sent now; progress still waiting is dropped. */
  other(itemId: number, event: E): void {
    this.items.get(itemId)?.cancel?.();
    this.items.delete(itemId);
    this.send(event);
  }

  /** Nothing more is sent (the listener went away). */
  close(): void {
    for (const state of this.items.values()) state.cancel?.();
    this.items.clear();
  }
}

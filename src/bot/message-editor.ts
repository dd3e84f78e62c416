import { type Api, GrammyError } from "grammy";
import type { InlineKeyboardMarkup } from "grammy/types";
import type { Logger } from "../logger.ts";
import { settlesWithin } from "../util/async.ts";

export interface MessageContent {
  text: string;
  markup?: InlineKeyboardMarkup;
}

interface Pending {
  /** Rendered when the edit goes out, so the newest state is what Telegram gets. */
  render: () => MessageContent;
  waiters: Array<() => void>;
}

interface MessageState {
  chatId: number;
  messageId: number;
  /** What Telegram shows now (text + markup), to skip edits that would change nothing. */
  shown?: string;
  /** When the last edit request went out. */
  lastAt: number;
  /** Set by a 429: no request before this time. */
  blockedUntil: number;
  pending?: Pending;
  timer?: NodeJS.Timeout;
  busy: boolean;
  /** Telegram says the message is no longer there (someone deleted it): edits are dropped. */
  gone?: boolean;
}

const key = (chatId: number, messageId: number) => `${chatId}:${messageId}`;
const fingerprint = (text: string, markup: InlineKeyboardMarkup | undefined) =>
  `${text}\u0000${markup ? JSON.stringify(markup) : ""}`;

/**
 * Edits live messages without ever fighting Telegram's limits:
 * - two edits of one message are at least `intervalMs` apart (the newest text wins meanwhile);
 * - an edit that would change nothing is not sent (no "message is not modified");
 * - a 429 pushes the next edit past its `retry_after` and never blocks the caller: `edit()` only
 *   records the wish, the transfer goes on.
 */
export class MessageEditor {
  private readonly states = new Map<string, MessageState>();

  constructor(
    private readonly api: Api,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Tells the editor what a message shows now (just sent), starting its interval. */
  track(chatId: number, messageId: number, text: string, markup?: InlineKeyboardMarkup): void {
    const state = this.state(chatId, messageId);
    state.shown = fingerprint(text, markup);
    state.lastAt = this.now();
  }

  /**
   * Asks for the message to show `content` (or what `content()` renders when the edit goes out);
   * resolves once it does, or once the edit was given up.
   */
  edit(chatId: number, messageId: number, content: MessageContent | (() => MessageContent)): Promise<void> {
    const state = this.state(chatId, messageId);
    if (state.gone) return Promise.resolve();
    const render = typeof content === "function" ? content : () => content;
    return new Promise<void>((resolve) => {
      const waiters = state.pending ? [...state.pending.waiters, resolve] : [resolve];
      state.pending = { render, waiters };
      this.schedule(state);
    });
  }

  /** True while an edit of this message waits to go out (callers can skip asking again). */
  hasPending(chatId: number, messageId: number): boolean {
    return this.states.get(key(chatId, messageId))?.pending !== undefined;
  }

  /** Forgets a message that will not be edited again (keeps the map small over weeks). */
  forget(chatId: number, messageId: number): void {
    const state = this.states.get(key(chatId, messageId));
    if (state && !state.pending && !state.busy) {
      clearTimeout(state.timer);
      this.states.delete(key(chatId, messageId));
    }
  }

  /** Waits for every pending edit, up to `timeoutMs` (used at shutdown). */
  async flush(timeoutMs: number): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const state of this.states.values()) {
      if (state.pending) waits.push(new Promise<void>((r) => state.pending!.waiters.push(r)));
    }
    await settlesWithin(Promise.all(waits), timeoutMs);
  }

  /** Drops everything pending (shutdown): waiters resolve, timers stop. */
  close(): void {
    for (const state of this.states.values()) {
      clearTimeout(state.timer);
      state.pending?.waiters.forEach((w) => w());
      state.pending = undefined;
    }
    this.states.clear();
  }

  private state(chatId: number, messageId: number): MessageState {
    const k = key(chatId, messageId);
    let state = this.states.get(k);
    if (!state) {
      state = { chatId, messageId, lastAt: 0, blockedUntil: 0, busy: false };
      this.states.set(k, state);
    }
    return state;
  }

  private schedule(state: MessageState): void {
    if (state.busy || state.timer || !state.pending) return;
    const now = this.now();
    const due = Math.max(state.lastAt + this.intervalMs, state.blockedUntil);
    if (due > now) {
      state.timer = setTimeout(() => {
        state.timer = undefined;
        this.schedule(state);
      }, due - now);
      return;
    }
    void this.send(state);
  }

  private async send(state: MessageState): Promise<void> {
    const pending = state.pending!;
    state.pending = undefined;
    const { text, markup } = pending.render();
    const fp = fingerprint(text, markup);
    if (fp === state.shown) {
      pending.waiters.forEach((w) => w());
      return this.settle(state);
    }
    state.busy = true;
    state.lastAt = this.now();
    try {
      await this.api.editMessageText(state.chatId, state.messageId, text, { reply_markup: markup });
      state.shown = fp;
      pending.waiters.forEach((w) => w());
    } catch (error) {
      if (error instanceof GrammyError && error.error_code === 429) {
        const retryAfter = error.parameters.retry_after ?? 5;
        state.blockedUntil = this.now() + retryAfter * 1000;
        this.logger.warn({ chatId: state.chatId, messageId: state.messageId, retryAfter }, "edit rate-limited; waiting");
        // Keep the wish unless a newer one arrived meanwhile.
        const newer = state.pending as Pending | undefined;
        state.pending = newer ? { ...newer, waiters: [...pending.waiters, ...newer.waiters] } : pending;
      } else if (error instanceof GrammyError && /message is not modified/i.test(error.description)) {
        state.shown = fp;
        pending.waiters.forEach((w) => w());
      } else if (error instanceof GrammyError && /message to edit not found|message can't be edited/i.test(error.description)) {
        // Deleted in the chat: editing it every interval for the rest of the transfer would
        // only fail again (and count against the bot's limits).
        this.logger.info({ chatId: state.chatId, messageId: state.messageId }, "the live message is gone; no more edits of it");
        state.gone = true;
        const newer = state.pending as Pending | undefined;
        state.pending = undefined;
        [...pending.waiters, ...(newer?.waiters ?? [])].forEach((w) => w());
      } else {
        this.logger.warn(
          { chatId: state.chatId, messageId: state.messageId, err: error instanceof Error ? error.message : String(error) },
          "progress edit failed",
        );
        pending.waiters.forEach((w) => w());
      }
    } finally {
      state.busy = false;
    }
    this.settle(state);
  }

  private settle(state: MessageState): void {
    if (state.pending) this.schedule(state);
  }
}

import type { InlineKeyboardButton, InlineKeyboardMarkup } from "grammy/types";

/**
 * Inline buttons and their callback data. Pure.
 *
 * Callback data is a short, versionless string `q:<action>:<number>` (Telegram allows 1–64
 * bytes; the longest we make, with a 16-digit number, is 21). Old buttons keep working across
 * restarts because they name the item, not anything held in memory.
 */
export type CallbackAction =
  | { action: "pause"; itemId: number }
  | { action: "resume"; itemId: number }
  | { action: "cancel"; itemId: number }
  /** Download an already delivered item's URL again instead of re-sending Telegram's copy. */
  | { action: "again"; itemId: number }
  /** Resume the whole queue (shown on the live message of an item the queue's pause held). */
  | { action: "resumeQueue"; itemId: number }
  | { action: "queuePage"; page: number }
  | { action: "historyPage"; page: number };

const CODES = {
  pause: "p",
  resume: "r",
  cancel: "c",
  again: "a",
  resumeQueue: "rq",
  queuePage: "qp",
  historyPage: "hp",
} as const satisfies Record<CallbackAction["action"], string>;

const BY_CODE = new Map<string, CallbackAction["action"]>(
  Object.entries(CODES).map(([action, code]) => [code, action as CallbackAction["action"]]),
);

/** The prefix every queue-control button starts with, for routing. */
export const CALLBACK_PREFIX = "q:";
export const MAX_CALLBACK_BYTES = 64;

export function encodeCallback(a: CallbackAction): string {
  const n = "itemId" in a ? a.itemId : a.page;
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`callback number must be a non-negative integer, got ${n}`);
  return `${CALLBACK_PREFIX}${CODES[a.action]}:${n}`;
}

/** The action a button press asks for, or null for data that is not ours or is malformed. */
export function decodeCallback(data: string | undefined): CallbackAction | null {
  if (!data || Buffer.byteLength(data) > MAX_CALLBACK_BYTES) return null;
  const m = /^q:([a-z]{1,2}):(\d{1,16})$/.exec(data);
  if (!m) return null;
  const action = BY_CODE.get(m[1]!);
  const n = Number(m[2]);
  if (!action || !Number.isSafeInteger(n)) return null;
  if (action === "queuePage" || action === "historyPage") return { action, page: n };
  return { action, itemId: n };
}

function button(text: string, a: CallbackAction): InlineKeyboardButton.CallbackButton {
  return { text, callback_data: encodeCallback(a) };
}

/**
 * The progress message's buttons: Pause (Resume while paused) for that item, and Cancel. While
 * the whole queue is paused, Resume resumes the queue instead.
 */
export function progressKeyboard(itemId: number, state: { paused: boolean; queuePaused?: boolean }): InlineKeyboardMarkup {
  const first = state.queuePaused
    ? button("▶️ Resume the queue", { action: "resumeQueue", itemId })
    : state.paused
      ? button("▶️ Resume", { action: "resume", itemId })
      : button("⏸ Pause", { action: "pause", itemId });
  return { inline_keyboard: [[first, button("✖️ Cancel", { action: "cancel", itemId })]] };
}

/** « and » for a paged listing; undefined when everything fits on one page. */
export function pagerKeyboard(kind: "queuePage" | "historyPage", page: number, pages: number): InlineKeyboardMarkup | undefined {
  if (pages <= 1) return undefined;
  const row: InlineKeyboardButton[] = [];
  if (page > 0) row.push(button("« Back", { action: kind, page: page - 1 }));
  if (page < pages - 1) row.push(button("More »", { action: kind, page: page + 1 }));
  return { inline_keyboard: [row] };
}

/** One "Download again" button per re-sent item (a reply about several URLs may re-send several). */
export function downloadAgainKeyboard(itemIds: readonly number[]): InlineKeyboardMarkup | undefined {
  if (itemIds.length === 0) return undefined;
  const many = itemIds.length > 1;
  return {
    inline_keyboard: itemIds.slice(0, 20).map((itemId) => [button(many ? `🔄 Download #${itemId} again` : "🔄 Download again", { action: "again", itemId })]),
  };
}

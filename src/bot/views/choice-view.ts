import type { InlineKeyboardButton, InlineKeyboardMarkup } from "grammy/types";
import { type Choice, type ChoiceOffer, type EntriesOffer, chosenEntries, chosenFiles } from "../../items/choice.ts";
import type { Item } from "../../items/item.ts";
import { escapeHtml, formatBytes, formatDuration, truncate } from "../../text/format.ts";

/**
 * The question an item that waits for a choice asks in its chat, its buttons, and the line it
 * becomes once chosen. Pure. Buttons name the item, never anything held in memory, so a question
 * keeps working after a restart.
 */

/** Files shown per page of a torrent's list (and videos per page of a gallery's). */
export const FILES_PER_PAGE = 8;

/** What a press on a question asks for. */
export type ChoicePress =
  | { op: "toggle" | "entry"; itemId: number; index: number }
  | { op: "page"; itemId: number; page: number }
  | { op: "all" | "none" | "videos" | "start" | "best" | "audio" | "entries"; itemId: number }
  | { op: "quality"; itemId: number; id: string };

export const CHOICE_PREFIX = "c:";

// "entry": that one video of a page; "entries": all of them.
const OPS = { toggle: "t", page: "p", all: "a", none: "n", videos: "v", start: "s", best: "b", audio: "u", quality: "q", entry: "e", entries: "g" } as const;
const BY_CODE = new Map<string, ChoicePress["op"]>(Object.entries(OPS).map(([op, code]) => [code, op as ChoicePress["op"]]));

export function encodeChoice(p: ChoicePress): string {
  const arg = p.op === "toggle" || p.op === "entry" ? `:${p.index}` : p.op === "page" ? `:${p.page}` : p.op === "quality" ? `:${p.id}` : "";
  return `${CHOICE_PREFIX}${OPS[p.op]}:${p.itemId}${arg}`;
}

/** The press a button's data asks for, or null for data that is not a question's or is malformed. */
export function decodeChoice(data: string | undefined): ChoicePress | null {
  const m = /^c:([a-z]):(\d{1,16})(?::([\w.+-]{1,40}))?$/.exec(data ?? "");
  if (!m || Buffer.byteLength(data!) > 64) return null;
  const op = BY_CODE.get(m[1]!);
  const itemId = Number(m[2]);
  if (!op || !Number.isSafeInteger(itemId)) return null;
  const arg = m[3];
  if (op === "toggle" || op === "entry" || op === "page") {
    const n = Number(arg);
    if (arg === undefined || !/^\d{1,6}$/.test(arg)) return null;
    return op === "page" ? { op, itemId, page: n } : { op, itemId, index: n };
  }
  if (op === "quality") return arg === undefined ? null : { op, itemId, id: arg };
  return arg === undefined ? { op, itemId } : null;
}

const button = (text: string, press: ChoicePress): InlineKeyboardButton.CallbackButton => ({ text, callback_data: encodeChoice(press) });

/** How long until the question times out, and what comes then, as the text says it. */
function timeLeft(deadline: number | null, now: number, then: string): string {
  return deadline === null ? "" : `\nWithout a choice within ${formatDuration(Math.max(0, deadline - now))}, it goes on with ${then}.`;
}

/** The « n/N » row of a paged list, or nothing when it fits one page. */
function pageRow(itemId: number, shown: number, pages: number): InlineKeyboardButton[][] {
  if (pages <= 1) return [];
  const nav: InlineKeyboardButton[] = [];
  if (shown > 0) nav.push(button("« Back", { op: "page", itemId, page: shown - 1 }));
  nav.push(button(`${shown + 1}/${pages}`, { op: "page", itemId, page: shown }));
  if (shown < pages - 1) nav.push(button("More »", { op: "page", itemId, page: shown + 1 }));
  return [nav];
}

/** A torrent's file list: a toggle per file (those that cannot be picked crossed out), paged, and the actions. */
export function renderFileQuestion(
  item: Item,
  offer: Extract<ChoiceOffer, { kind: "files" }>,
  picked: readonly number[],
  page: number,
  now: number,
): { text: string; markup: InlineKeyboardMarkup; page: number } {
  const pages = Math.max(1, Math.ceil(offer.files.length / FILES_PER_PAGE));
  const shown = Math.min(Math.max(0, page), pages - 1);
  const chosen = new Set(picked);
  const rows: InlineKeyboardButton[][] = offer.files.slice(shown * FILES_PER_PAGE, (shown + 1) * FILES_PER_PAGE).map((f) => {
    const label = `${truncate(f.path, 40)} · ${formatBytes(f.size)}`;
    if (!f.selectable) return [button(`🚫 ${label}`, { op: "toggle", itemId: item.id, index: f.index })];
    return [button(`${chosen.has(f.index) ? "✅" : "⬜"} ${label}`, { op: "toggle", itemId: item.id, index: f.index })];
  });
  rows.push(...pageRow(item.id, shown, pages));
  rows.push([button("All", { op: "all", itemId: item.id }), button("None", { op: "none", itemId: item.id }), button("Videos only", { op: "videos", itemId: item.id })]);
  const files = chosenFiles(offer, { kind: "files", indices: [...chosen] });
  const bytes = files.reduce((sum, f) => sum + f.size, 0);
  rows.push([button(`▶️ Start (${files.length} ${files.length === 1 ? "file" : "files"}, ${formatBytes(bytes)})`, { op: "start", itemId: item.id })]);
  const over = offer.files.filter((f) => !f.selectable).length;
  const text =
    `📂 #${item.id} <b>${escapeHtml(truncate(item.title, 120))}</b> holds ${offer.files.length} files: which should come?` +
    (over ? `\n🚫 ${over} over this bot's size limit (or empty) cannot be picked.` : "") +
    `\nThe next download runs meanwhile.${timeLeft(item.choiceDeadline, now, "every file that fits")}`;
  return { text, markup: { inline_keyboard: rows }, page: shown };
}

/** A video's qualities: one button per quality that fits, the best that fits, the audio only. */
export function renderQualityQuestion(item: Item, offer: Extract<ChoiceOffer, { kind: "quality" }>, now: number): { text: string; markup: InlineKeyboardMarkup } {
  const rows: InlineKeyboardButton[][] = [];
  for (const q of offer.qualities.filter((q) => q.fits)) {
    const label = `${q.height ? `${q.height}p` : "?"}${q.sizeBytes !== null ? ` · ~${formatBytes(q.sizeBytes)}` : ""}`;
    rows.push([button(label, { op: "quality", itemId: item.id, id: q.id })]);
  }
  rows.push([button("⭐ Best that fits", { op: "best", itemId: item.id }), ...(offer.audio ? [button("🎵 Audio only", { op: "audio", itemId: item.id })] : [])]);
  const over = offer.qualities.filter((q) => !q.fits);
  const text =
    `🎞 #${item.id} <b>${escapeHtml(truncate(item.title, 120))}</b>: which quality?` +
    (over.length ? `\n🚫 Over this bot's size limit: ${over.map((q) => (q.height ? `${q.height}p` : "?")).join(", ")}.` : "") +
    `\nThe next download runs meanwhile.${timeLeft(item.choiceDeadline, now, "the best quality that fits")}`;
  return { text, markup: { inline_keyboard: rows } };
}

/** What a gallery gives when nobody chooses, as without a question. */
function galleryDefault(offer: EntriesOffer): string {
  return offer.main === null ? "all of them" : `<b>${escapeHtml(truncate(offer.main, 60))}</b> only, the page's main video`;
}

/**
 * A page's videos: one button per video (a press takes that one), paged, and "All N". Each
 * chosen video is queued as a download of its own.
 */
export function renderEntriesQuestion(item: Item, offer: EntriesOffer, page: number, now: number): { text: string; markup: InlineKeyboardMarkup; page: number } {
  const pages = Math.max(1, Math.ceil(offer.entries.length / FILES_PER_PAGE));
  const shown = Math.min(Math.max(0, page), pages - 1);
  const rows: InlineKeyboardButton[][] = offer.entries
    .slice(shown * FILES_PER_PAGE, (shown + 1) * FILES_PER_PAGE)
    .map((e) => [button(`${e.index + 1}. ${truncate(e.title, 40)}${e.sizeBytes !== null ? ` · ${formatBytes(e.sizeBytes)}` : ""}`, { op: "entry", itemId: item.id, index: e.index })]);
  rows.push(...pageRow(item.id, shown, pages));
  const sizes = offer.entries.map((e) => e.sizeBytes);
  const total = sizes.every((s) => s !== null) ? ` (${formatBytes(sizes.reduce((sum: number, s) => sum + s!, 0))})` : "";
  rows.push([button(`▶️ All ${offer.entries.length}${total}`, { op: "entries", itemId: item.id })]);
  const text =
    `🎞 #${item.id} <b>${escapeHtml(truncate(item.title, 120))}</b> shows ${offer.entries.length} videos: which should come? ` +
    `Each comes as a download of its own.\nThe next download runs meanwhile.${timeLeft(item.choiceDeadline, now, galleryDefault(offer))}`;
  return { text, markup: { inline_keyboard: rows }, page: shown };
}

/** What the question becomes once chosen: what goes, and that it is back in line. */
export function renderChosen(item: Item, offer: ChoiceOffer | null, choice: Choice, timedOut: boolean): string {
  const name = `#${item.id} <b>${escapeHtml(truncate(item.title, 120))}</b>`;
  if (offer?.kind === "entries") {
    if (choice.kind === "entries") {
      const chosen = chosenEntries(offer, choice);
      const what =
        chosen.length === offer.entries.length
          ? `all ${chosen.length} videos`
          : chosen.length === 1
            ? `<b>${escapeHtml(truncate(chosen[0]!.title, 60))}</b>`
            : `${chosen.length} of its ${offer.entries.length} videos`;
      return `✓ ${name}: ${what}, each to come as a download of its own.`;
    }
    const what = galleryDefault(offer);
    return timedOut ? `⏱ ${name}: nobody chose in time, so it goes on with ${what}. Back in line.` : `✓ ${name}: ${what}. Back in line.`;
  }
  let what: string;
  if (offer?.kind === "files" && (choice.kind === "files" || choice.kind === "default")) {
    const files = chosenFiles(offer, choice);
    what = `${files.length} ${files.length === 1 ? "file" : "files"}, ${formatBytes(files.reduce((sum, f) => sum + f.size, 0))}`;
  } else if (choice.kind === "quality" && offer?.kind === "quality") {
    const q = offer.qualities.find((x) => x.id === choice.id);
    what = q?.height ? `${q.height}p` : "the chosen quality";
  } else {
    what = choice.kind === "audio" ? "the audio only" : offer?.kind === "files" ? "every file that fits" : "the best quality that fits";
  }
  return timedOut ? `⏱ ${name}: nobody chose in time, so ${what} come. Back in line.` : `✓ ${name}: ${what}. Back in line.`;
}

import { releaseAgeDays } from "../../tools/yt-dlp.ts";
import type { Item, ItemStatus } from "../../items/item.ts";
import { PRIORITIES, type PriorityName, isActive } from "../../items/item.ts";
import type { QueueEntry, StatusInfo } from "../../queue/queue-control.ts";
import { escapeHtml, formatBytes, formatDuration, MESSAGE_LIMIT, truncate } from "../../text/format.ts";
import { describeLastError } from "./error-view.ts";

/**
 * What /queue, /history and /status show, and the small parsers of command arguments. Pure: the
 * caller passes the items and the clock, so every text here is unit-tested.
 */

export { orderQueue } from "../../queue/queue-control.ts";
export { PRIORITIES };
export type { PriorityName, QueueEntry, StatusInfo };

export function parsePriority(text: string): PriorityName | null {
  const t = text.trim().toLowerCase();
  return t === "high" || t === "normal" || t === "low" ? t : null;
}

export function priorityName(priority: number): PriorityName {
  return priority > 0 ? "high" : priority < 0 ? "low" : "normal";
}

/** "12", "#12" → 12; anything else → null. */
export function parseItemId(text: string): number | null {
  const m = /^#?(\d{1,15})$/.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]);
  return n > 0 ? n : null;
}

/** Items per page of /queue and /history: well within 4096 characters even with long names. */
export const PAGE_SIZE = 10;
const NAME_MAX = 60;

function name(item: Item): string {
  return `<b>${escapeHtml(truncate(item.title, NAME_MAX))}</b>`;
}

function sizeText(item: Item): string {
  if (isActive(item.status) || (item.status === "paused" && item.bytesDone > 0)) {
    return item.sizeBytes !== null ? `${formatBytes(item.bytesDone)} / ${formatBytes(item.sizeBytes)}` : `${formatBytes(item.bytesDone)} so far`;
  }
  return item.sizeBytes !== null ? formatBytes(item.sizeBytes) : "size unknown";
}

function priorityTag(item: Item): string {
  const p = priorityName(item.priority);
  return p === "high" ? " · ↑ high" : p === "low" ? " · ↓ low" : "";
}

export function queueLine(entry: QueueEntry, now: number): string {
  const { item } = entry;
  let state: string;
  if (entry.active) state = item.status === "uploading" ? "uploading" : "downloading";
  else if (item.status === "paused") state = "paused";
  else if (item.nextAttemptAt > now) state = `attempt ${item.attempts + 1} in ${formatDuration(item.nextAttemptAt - now)}`;
  else state = "queued";
  const lead = entry.active ? "▶️ 1." : entry.position !== null ? `${entry.position}.` : "⏸";
  return `${lead} #${item.id} ${name(item)} · ${sizeText(item)} · ${state}${priorityTag(item)}`;
}

export interface Page {
  text: string;
  page: number;
  pages: number;
}

/** Clamps a requested page into range (a « press on a list that shrank meanwhile). */
function pageOf(total: number, page: number): { page: number; pages: number } {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  return { page: Math.min(Math.max(0, page), pages - 1), pages };
}

/** Keeps a text within Telegram's limit whatever the names are (they are already cut, so rarely). */
function fit(lines: string[]): string {
  let text = lines.join("\n");
  while (text.length > MESSAGE_LIMIT && lines.length > 2) {
    lines.splice(lines.length - 2, 1);
    text = lines.join("\n");
  }
  return text;
}

/**
 * /queue: this chat's entries (positions are places in the whole queue, which other allowed
 * chats share); the running item of another chat is mentioned without its name.
 */
export function renderQueuePage(
  entries: readonly QueueEntry[],
  /** `admin`: the chat's /resume resumes the whole queue (default true). */
  options: { chatId: number; page: number; now: number; queuePaused: boolean; admin?: boolean },
): Page {
  const mine = entries.filter((e) => e.item.chatId === options.chatId);
  const foreignActive = entries.some((e) => e.active && e.item.chatId !== options.chatId);
  const header: string[] = [];
  if (options.queuePaused) {
    header.push(
      options.admin === false
        ? "⏸ <b>The queue is paused</b> by the admin chat: nothing starts until it resumes the queue."
        : "⏸ <b>The queue is paused</b>: nothing starts until /resume.",
    );
  }
  if (foreignActive) header.push("▶️ 1. another chat's download is running.");
  if (mine.length === 0) {
    return { text: [...header, "Nothing of this chat is in the queue."].join("\n"), page: 0, pages: 1 };
  }
  const { page, pages } = pageOf(mine.length, options.page);
  const waiting = mine.filter((e) => !e.active && e.position !== null).length;
  const paused = mine.filter((e) => e.position === null).length;
  const running = mine.filter((e) => e.active).length;
  const counts = [running ? `${running} running` : "", waiting ? `${waiting} waiting` : "", paused ? `${paused} paused` : ""]
    .filter(Boolean)
    .join(", ");
  const lines = [`<b>Queue</b>: ${counts}`, ...header, ""];
  for (const e of mine.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE)) lines.push(queueLine(e, options.now));
  if (pages > 1) lines.push("", `Page ${page + 1} of ${pages}`);
  return { text: fit(lines), page, pages };
}

const OUTCOME: Partial<Record<ItemStatus, string>> = { completed: "✅", failed: "❌", cancelled: "✖️" };

export function historyLine(item: Item, now: number): string {
  const when = item.finishedAt !== null ? ` · ${formatDuration(Math.max(0, now - item.finishedAt))} ago` : "";
  const size = item.sizeBytes !== null ? ` · ${formatBytes(item.sizeBytes)}` : "";
  const mark = OUTCOME[item.status] ?? "•";
  let outcome: string;
  if (item.status === "completed") outcome = "delivered";
  else if (item.status === "failed") outcome = `failed: ${escapeHtml(truncate(describeLastError(item.lastError, "unknown error"), 120))}`;
  else outcome = "cancelled";
  return `${mark} #${item.id} ${name(item)}${size} · ${outcome}${when}`;
}

/** /history: one page of finished items (newest first); `total` is how many there are in all. */
export function renderHistoryPage(items: readonly Item[], options: { page: number; total: number; now: number }): Page {
  if (options.total === 0) return { text: "Nothing has finished in this chat yet.", page: 0, pages: 1 };
  const { page, pages } = pageOf(options.total, options.page);
  const lines = [`<b>History</b>: ${options.total} finished`, "", ...items.map((i) => historyLine(i, options.now))];
  if (pages > 1) lines.push("", `Page ${page + 1} of ${pages}`);
  return { text: fit(lines), page, pages };
}

export function renderStatus(s: StatusInfo, now = Date.now()): string {
  const n = (status: ItemStatus) => s.counts[status] ?? 0;
  const lines = ["<b>Status</b>"];
  lines.push(!s.queuePaused ? "Queue: running" : s.admin === false ? "Queue: ⏸ paused by the admin chat" : "Queue: ⏸ paused (/resume continues)");
  if (s.active) {
    const pct = s.active.sizeBytes ? ` (${Math.floor(Math.min(1, s.active.bytesDone / s.active.sizeBytes) * 100)}%)` : "";
    lines.push(`Active: #${s.active.id} ${name(s.active)} · ${s.active.status}${pct}`);
  } else {
    lines.push(s.activeElsewhere ? "Active: another chat's download" : "Active: nothing");
  }
  lines.push(
    `Items: ${n("downloading") + n("uploading")} running · ${n("queued")} queued · ${n("paused")} paused · ` +
      `${n("completed")} delivered · ${n("failed")} failed · ${n("cancelled")} cancelled`,
  );
  const age = s.ytDlpVersion ? releaseAgeDays(s.ytDlpVersion, now) : undefined;
  if (age !== undefined && age > YT_DLP_MAX_AGE_DAYS) {
    lines.push(`⚠️ yt-dlp ${escapeHtml(s.ytDlpVersion!)} is ${age} days old: sites change and break old versions, so update it on the server (a newer image, or the yt-dlp package).`);
  }
  if (s.diskFull) lines.push("⚠️ The disk is full: nothing is downloaded until space is freed on the server.");
  // The size only: the server's paths are none of the chat's business.
  lines.push(`Free disk space: ${s.freeBytes === null ? "unknown" : formatBytes(s.freeBytes)}`);
  if (s.ytDlp === false) lines.push("yt-dlp: not installed, so pages are read by the bot's own reader only");
  return lines.join("\n");
}

/** Past this age, /status warns that yt-dlp needs an update (sites break as it ages). */
export const YT_DLP_MAX_AGE_DAYS = 90;

import type { RequestOutcome } from "../../intake/request-queue.ts";
import { escapeHtml, formatBytes, MESSAGE_LIMIT, truncate } from "../../text/format.ts";
import { describeReason } from "./error-view.ts";

/** The replies to /download, /torrent and "Download again". Pure. */

/** What happened to one URL of a /download: intake's answer, or a re-send of an earlier delivery. */
export type ReplyOutcome = RequestOutcome;

/** One line about what happened to one URL, for the reply. */
export function describeOutcome(outcome: ReplyOutcome, url: string): string {
  const short = escapeHtml(truncate(url, 80));
  if (outcome.status === "refused") return `✗ ${short}: ${escapeHtml(withoutHost(describeReason(outcome.error.reason), url))}`;
  const item = outcome.item;
  const name = `<b>${escapeHtml(truncate(item.title, 120))}</b>`;
  const size = item.sizeBytes !== null ? ` (${formatBytes(item.sizeBytes)})` : "";
  if (outcome.status === "duplicate") {
    const where = outcome.position !== null ? `position ${outcome.position} in the queue` : item.status;
    return `↺ ${name} is already in the queue as #${item.id} (${where}).`;
  }
  if (outcome.status === "redelivered") {
    return `↺ ${name} was delivered here before (#${item.id}): sent again from Telegram's copy.`;
  }
  const only = item.wants.audioOnly ? ", only its audio" : "";
  return `✓ Queued #${item.id} ${name}${size}${only}: position ${outcome.position} in the queue.`;
}

/** "h: the file is not there" → "the file is not there": the line shows the link already. */
function withoutHost(message: string, url: string): string {
  let host: string;
  try {
    host = new URL(url).host;
  } catch {
    return message;
  }
  return host && message.startsWith(`${host}: `) ? message.slice(host.length + 2) : message;
}

export function joinReply(lines: string[]): string {
  let text = "";
  for (const line of lines) {
    const next = text ? `${text}\n${line}` : line;
    if (next.length > MESSAGE_LIMIT - 40) return `${text}\n… and ${lines.length - text.split("\n").length} more.`;
    text = next;
  }
  return text;
}

/** The items a reply about these outcomes names (refusals name none). */
export function itemIds(outcomes: readonly ReplyOutcome[]): number[] {
  return outcomes.flatMap((o) => (o.status === "refused" ? [] : [o.item.id]));
}

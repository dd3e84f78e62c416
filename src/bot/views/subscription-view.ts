import type { ScheduleProblem } from "../../subscriptions/schedule.ts";
import type { CheckResult, Schedule, Subscription, SubscriptionSummary, WatchKind } from "../../subscriptions/subscription.ts";
import type { WatchProblem } from "../../subscriptions/watch-args.ts";
import { escapeHtml, truncate } from "../../text/format.ts";
import { describeReason } from "./error-view.ts";

/** The texts of /watch, /watches, /unwatch, /check and a subscription's notes to its chat. Pure. */

export const WATCH_USAGE = [
  "Send <code>/watch https://example.com/feed.xml</code> — an RSS or Atom feed (podcasts too), a playlist or channel yt-dlp can list, or a page of files (a directory listing).",
  "Options: <code>every 2h</code> (15 minutes at least; or a cron expression, UTC: <code>every 0 6 * * *</code>), <code>match words</code> or <code>match /regex/</code>, <code>exclude …</code>, <code>last 3</code> (the newest 3 now; otherwise only what comes from now on).",
].join("\n");

const KINDS: Record<WatchKind, string> = { feed: "feed", playlist: "playlist", listing: "page of files" };

/** "30 min", "2 h", "1 d 12 h". */
function span(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return "under a minute";
  if (minutes < 90 && minutes % 60 !== 0) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours < 48) return rest ? `${hours} h ${rest} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

export function scheduleText(schedule: Schedule): string {
  return schedule.kind === "every" ? `every ${span(schedule.ms)}` : `at <code>${escapeHtml(schedule.expression)}</code> (cron, UTC)`;
}

function nextCheckText(sub: Subscription, now: number): string {
  const wait = sub.nextCheckAt - now;
  return wait <= 0 ? "next check now" : `next check in ${span(wait)}`;
}

/** "#3 <b>Name</b>", or the URL while the name is not known. */
export function subscriptionName(sub: Pick<Subscription, "id" | "name" | "url">): string {
  return `#${sub.id} <b>${escapeHtml(truncate(sub.name ?? sub.url, 120))}</b>`;
}

function filtersText(sub: Subscription): string {
  const parts = [];
  if (sub.match) parts.push(`match <code>${escapeHtml(truncate(sub.match, 100))}</code>`);
  if (sub.exclude) parts.push(`exclude <code>${escapeHtml(truncate(sub.exclude, 100))}</code>`);
  return parts.join(", ");
}

export function describeWatchProblem(problem: WatchProblem): string {
  switch (problem.kind) {
    case "noUrl":
      return "No link given.";
    case "badUrl":
      return `“${escapeHtml(truncate(problem.text, 80))}” is not an http(s) link.`;
    case "badFilter":
      return `${problem.keyword} “${escapeHtml(truncate(problem.text, 80))}” is not words or a valid /regular expression/.`;
    case "badLast":
      return `last “${escapeHtml(truncate(problem.text, 20))}”: give a number from 0 to 50.`;
    case "unexpected":
      return `“${escapeHtml(truncate(problem.text, 80))}” is not an option (every, match, exclude, last).`;
    default:
      return describeScheduleProblem(problem);
  }
}

function describeScheduleProblem(problem: ScheduleProblem): string {
  if (problem.kind === "tooOften") return `every ${escapeHtml(truncate(problem.text, 60))} is too often: ${span(problem.minMs)} at least.`;
  return `every “${escapeHtml(truncate(problem.text, 60))}” is neither an interval (30m, 2h, 1d) nor a cron expression of five fields.`;
}

/** Why a check failed, without its closing full stop (it goes inside a sentence). */
function reasonText(result: Extract<CheckResult, { kind: "failed" }>): string {
  return describeReason(result.reason).replace(/\.$/, "");
}

/** What a check did, in one sentence (without the subscription's name). */
export function describeResult(result: CheckResult): string {
  if (result.kind === "failed") return `the check failed: ${escapeHtml(reasonText(result))}`;
  const parts: string[] = [];
  if (result.first) {
    const entries = result.found === 1 ? "1 entry" : `${result.found} entries`;
    parts.push(result.queued ? `${entries} there now, the newest ${result.queued} queued` : `${entries} there now, none queued: what comes from now on will be`);
  } else if (result.queued) parts.push(`${result.queued} new queued`);
  else parts.push(result.fresh - result.filtered > 0 ? "nothing new queued" : "nothing new");
  if (result.duplicate) parts.push(`${result.duplicate} already in the queue`);
  if (result.refused) parts.push(`${result.refused} refused (too large, or not a link the bot fetches)`);
  if (result.filtered && !result.first) parts.push(`${result.filtered} left out by match/exclude`);
  if (result.left) parts.push(`${result.left} more left for the next check`);
  return parts.join("; ");
}

export function watchStarted(sub: Subscription): string {
  const filters = filtersText(sub);
  return `👀 Watching ${subscriptionName(sub)}, ${scheduleText(sub.schedule)}${filters ? `, ${filters}` : ""}. Checking it now…`;
}

export function watchChecked(sub: Subscription, result: CheckResult | undefined, now: number): string {
  const filters = filtersText(sub);
  const kind = sub.kind ? ` (${KINDS[sub.kind]})` : "";
  const head = `👀 Watching ${subscriptionName(sub)}${kind}, ${scheduleText(sub.schedule)}${filters ? `, ${filters}` : ""}`;
  if (!result) return `${head}.`;
  const after = result.kind === "failed" ? "; it is tried again at the next check" : "";
  return `${head}: ${describeResult(result)}${after}; ${nextCheckText(sub, now)}.`;
}

export function watchUpdated(sub: Subscription, now: number): string {
  const filters = filtersText(sub);
  return `✏️ ${subscriptionName(sub)} updated: ${scheduleText(sub.schedule)}${filters ? `, ${filters}` : ""}; ${nextCheckText(sub, now)}.`;
}

/** What /check says at once: it checks, or joins the check already under way. */
export function checkStarted(sub: Subscription, running: boolean): string {
  return running ? `🔎 ${subscriptionName(sub)} is being checked right now; its outcome follows here.` : `🔎 Checking ${subscriptionName(sub)}…`;
}

/** The answer to /check, once the check is done. */
export function checkAnswer(sub: Subscription, result: CheckResult, now: number): string {
  return `${result.kind === "failed" ? "⚠️" : "🔎"} ${subscriptionName(sub)}: ${describeResult(result)}; ${nextCheckText(sub, now)}.`;
}

export function notWatched(id: number | null): string {
  return id === null
    ? "Which one? Send its number: <code>/unwatch 3</code>, <code>/check 3</code> (/watches lists them)."
    : `There is no subscription #${id} in this chat (/watches lists this chat's).`;
}

export function unwatched(sub: Subscription): string {
  return `🗑 No longer watching ${subscriptionName(sub)}. What it queued stays in the queue.`;
}

export function renderWatches(subs: readonly SubscriptionSummary[], now: number): string {
  if (subs.length === 0) return `Nothing is watched in this chat.\n\n${WATCH_USAGE}`;
  const blocks = subs.map((sub) => {
    const kind = sub.kind ? ` · ${KINDS[sub.kind]}` : "";
    const filters = filtersText(sub);
    const last = sub.lastResult ? `last check: ${describeResult(sub.lastResult)}` : "not checked yet";
    return [
      `${subscriptionName(sub)}${kind}`,
      `${scheduleText(sub.schedule)}${filters ? `, ${filters}` : ""} · ${nextCheckText(sub, now)} · ${sub.queuedSoFar} queued so far`,
      last,
      escapeHtml(truncate(sub.url, 200)),
    ].join("\n");
  });
  // Whole blocks only (a cut could split an HTML tag), as many as fit in one message.
  let text = `👀 Watched in this chat (${subs.length}):`;
  for (const [i, block] of blocks.entries()) {
    const more = blocks.length - i;
    if (text.length + block.length + 40 > 4000) return `${text}\n\n… and ${more} more (/check and /unwatch take their numbers).`;
    text += `\n\n${block}`;
  }
  return text;
}

/** A check that kept failing: said once, after the third failure in a row. */
export function failingNotice(sub: Subscription, result: Extract<CheckResult, { kind: "failed" }>, now: number): string {
  return `⚠️ ${subscriptionName(sub)}: the last ${sub.failures} checks failed (${escapeHtml(reasonText(result))}). The bot keeps trying, less often (${nextCheckText(sub, now)}), and says so once it works again.`;
}

/** It works again after the chat was told it kept failing: said once. */
export function recoveredNotice(sub: Subscription, result: Extract<CheckResult, { kind: "ok" }>): string {
  return `✅ ${subscriptionName(sub)} works again: ${describeResult(result)}.`;
}

/** A scheduled check that found more new entries than it queues at once. */
export function leftOverNotice(sub: Subscription, result: Extract<CheckResult, { kind: "ok" }>): string {
  return `📥 ${subscriptionName(sub)}: ${result.queued} new queued; ${result.left} more left for the next check (at most ${result.queued + result.duplicate + result.refused} a check).`;
}

import { type Db, transact } from "../db/database.ts";
import {
  checkTimesFrom,
  findSubscription,
  recordCheck,
  recordEntry,
  seenEntryKeys,
  subscriptionExists,
} from "../db/subscription-repository.ts";
import { type AppError, stopReason, toAppError } from "../errors.ts";
import { type IntakeDeps, type IntakeOutcome, type IntakeRequest, checkUrl, storeChecked } from "../intake/intake.ts";
import { enqueueTorrent } from "../intake/torrent-intake.ts";
import type { Wants } from "../items/item.ts";
import type { Logger } from "../logger.ts";
import { mediaName } from "../sources/crawler-source.ts";
import { filenameFromUrl } from "../sources/http-probe.ts";
import type { ListEntries } from "./entry-sources.ts";
import type { SubscriptionEvents } from "./events.ts";
import { filterText, parseFilter, passes } from "./filters.ts";
import { nextCheckAfter, retryAfterFailure, spreadOut } from "./schedule.ts";
import { type CheckResult, type CheckTrigger, type Entry, FAILURES_BEFORE_TELLING, type Subscription } from "./subscription.ts";

/**
 * One check of one subscription: list the source, take the entries it has not seen (oldest
 * first), filter them, and queue each through the same checks as a pasted link. An entry's row
 * and its item are written in one transaction, so nothing is ever queued twice for a
 * subscription, and an entry a crash cut short is simply new again at the next check.
 */

export interface CheckerDeps {
  db: Db;
  list: ListEntries;
  /** The checks a pasted link goes through; its `db` is swapped for the transaction. */
  intake: Omit<IntakeDeps, "onQueued">;
  /** Wakes the worker once an item is stored. */
  onQueued: () => void;
  /** What the chat's settings ask of what it gets (its quality cap, only the audio). */
  wantsOf: (chatId: number) => Promise<Wants>;
  /** At most this many entries are queued a check (`crawlMaxItems`); the rest wait for the next. */
  maxItems: number;
  /** Checks of different subscriptions are at least this far apart. */
  spreadMs: number;
  now: () => number;
  events: SubscriptionEvents;
  logger: Logger;
}

type Tally = Omit<Extract<CheckResult, { kind: "ok" }>, "kind" | "first">;

export async function checkSubscription(deps: CheckerDeps, sub: Subscription, trigger: CheckTrigger, signal: AbortSignal): Promise<CheckResult> {
  const log = deps.logger.child({ subscription: sub.id, chatId: sub.chatId });
  let listing;
  try {
    listing = await deps.list(sub.url, sub.kind, signal);
  } catch (thrown) {
    if (signal.aborted) throw stopReason(signal);
    const error = toAppError(thrown);
    log.info({ code: error.code, err: error.message, failures: sub.failures + 1 }, "a subscription's check failed");
    return recordFailure(deps, sub, trigger, error);
  }
  const first = sub.baselineAt === null;
  const filters = { match: sub.match ? parseFilter(sub.match) : null, exclude: sub.exclude ? parseFilter(sub.exclude) : null };
  const seen = await seenEntryKeys(deps.db, sub.id, listing.entries.map((e) => e.key));
  const fresh = listing.entries.filter((e) => !seen.has(e.key));
  const passing: typeof fresh = [];
  const filtered: typeof fresh = [];
  for (const e of fresh) (passes(filterText(e), filters) ? passing : filtered).push(e);
  // The first check queues nothing that was there before the subscription, but the newest `last`.
  const wanted = first
    ? passing.filter((e, i) => i >= passing.length - sub.lastN || (e.publishedAt !== null && e.publishedAt > sub.createdAt))
    : passing;
  const wantedSet = new Set(wanted);
  const baseline = passing.filter((e) => !wantedSet.has(e));
  const now = deps.now();
  const gone = await transact(deps.db, async (trx) => {
    if (!(await subscriptionExists(trx, sub.chatId, sub.id))) return true;
    for (const e of filtered) await recordEntry(trx, sub.id, e, "filtered", null, now);
    for (const e of baseline) await recordEntry(trx, sub.id, e, "baseline", null, now);
    return false;
  });
  const tally: Tally = { found: listing.entries.length, fresh: fresh.length, queued: 0, duplicate: 0, refused: 0, filtered: filtered.length, left: 0 };
  if (gone) return { kind: "ok", first, ...tally };
  const considered = wanted.slice(0, deps.maxItems);
  tally.left = wanted.length - considered.length;
  const wants = await deps.wantsOf(sub.chatId);
  for (const entry of considered) {
    if (signal.aborted) throw stopReason(signal);
    const outcome = await queueEntry(deps, sub, entry, wants);
    if (outcome === "gone") return { kind: "ok", first, ...tally };
    if (outcome === "seen") continue;
    if (outcome.status === "queued") tally.queued++;
    else if (outcome.status === "duplicate") tally.duplicate++;
    else tally.refused++;
  }
  log.info({ ...tally, first, kind: listing.kind }, "checked a subscription");
  const result: CheckResult = { kind: "ok", first, ...tally };
  const checkedAt = deps.now();
  await recordCheck(deps.db, sub.chatId, sub.id, {
    kind: listing.kind,
    name: listing.name,
    nextCheckAt: await spread(deps, sub.id, nextCheckAfter(sub.schedule, checkedAt)),
    checkedAt,
    ...(first ? { baselineAt: checkedAt } : {}),
    failures: 0,
    failureTold: false,
    result,
  });
  await announce(deps, sub, result, trigger, sub.failureTold ? "recovered" : null);
  return result;
}

/** Queues one entry and records it, in one transaction; "seen" when another check did it first. */
async function queueEntry(deps: CheckerDeps, sub: Subscription, entry: Entry, wants: Wants): Promise<IntakeOutcome | "seen" | "gone"> {
  const request: IntakeRequest = {
    chatId: sub.chatId,
    userId: sub.userId,
    requestMessageId: null,
    url: entry.url,
    wants,
    ...(entry.expectFile ? { expectFile: true } : {}),
    // An episode's file is named after the episode (its extension kept, so audio goes up as audio).
    ...(entry.title && entry.expectFile ? { title: mediaName(entry.title, filenameFromUrl(entry.url), entry.url) } : {}),
  };
  const magnet = /^magnet:\?/i.test(entry.url);
  // The network half first (a HEAD can take a while), outside the transaction; a magnet has none.
  const checked = magnet ? undefined : await checkUrl(deps.intake, request);
  const outcome = await transact(deps.db, async (trx) => {
    if (!(await subscriptionExists(trx, sub.chatId, sub.id))) return "gone" as const;
    if ((await seenEntryKeys(trx, sub.id, [entry.key])).size > 0) return "seen" as const;
    const stored = checked
      ? await storeChecked({ ...deps.intake, db: trx }, request, checked)
      : await enqueueTorrent({ ...deps.intake, db: trx }, { chatId: sub.chatId, userId: sub.userId, requestMessageId: null, wants }, { kind: "magnet", uri: entry.url });
    const kind = stored.status === "queued" ? "queued" : stored.status === "duplicate" ? "duplicate" : "refused";
    await recordEntry(trx, sub.id, entry, kind, stored.status === "refused" ? null : stored.item.id, deps.now());
    return stored;
  });
  if (typeof outcome !== "string" && outcome.status === "queued") deps.onQueued();
  return outcome;
}

async function recordFailure(deps: CheckerDeps, sub: Subscription, trigger: CheckTrigger, error: AppError): Promise<CheckResult> {
  const failures = sub.failures + 1;
  const tell = failures >= FAILURES_BEFORE_TELLING && !sub.failureTold;
  const result: CheckResult = { kind: "failed", code: error.code, reason: error.reason };
  const checkedAt = deps.now();
  await recordCheck(deps.db, sub.chatId, sub.id, {
    nextCheckAt: await spread(deps, sub.id, retryAfterFailure(sub.schedule, checkedAt, failures)),
    checkedAt,
    failures,
    failureTold: sub.failureTold || tell,
    result,
  });
  await announce(deps, sub, result, trigger, tell ? "failing" : null);
  return result;
}

/** `at`, moved on until no other subscription's check is within `spreadMs` of it. */
async function spread(deps: CheckerDeps, id: number, at: number): Promise<number> {
  return spreadOut(at, await checkTimesFrom(deps.db, at - deps.spreadMs, id), deps.spreadMs);
}

async function announce(deps: CheckerDeps, sub: Subscription, result: CheckResult, trigger: CheckTrigger, told: "failing" | "recovered" | null): Promise<void> {
  const stored = await findSubscription(deps.db, sub.chatId, sub.id);
  if (stored) deps.events.emit({ type: "checked", subscription: stored, result, trigger, told });
}

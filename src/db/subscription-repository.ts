import type { Selectable } from "kysely";
import type { Entry, EntryOutcome, CheckResult, Schedule, Subscription, SubscriptionSummary, WatchKind } from "../subscriptions/subscription.ts";
import { WATCH_KINDS } from "../subscriptions/subscription.ts";
import type { Db } from "./database.ts";
import type { SubscriptionsTable } from "./schema.ts";

/**
 * The subscriptions (/watch) and the entries each has seen (migration 016). A subscription
 * belongs to its chat: every read and change a chat can ask for names the chat; only the
 * scheduler's "which check is due next" looks across chats.
 */

type Row = Selectable<SubscriptionsTable>;

function toSubscription(row: Row): Subscription {
  return {
    id: row.id,
    chatId: row.chat_id,
    userId: row.user_id,
    url: row.url,
    kind: WATCH_KINDS.includes(row.kind as WatchKind) ? (row.kind as WatchKind) : null,
    name: row.name,
    schedule: row.cron !== null ? { kind: "cron", expression: row.cron } : { kind: "every", ms: row.every_ms ?? 3_600_000 },
    match: row.match_filter,
    exclude: row.exclude_filter,
    lastN: row.last_n,
    nextCheckAt: row.next_check_at,
    checkedAt: row.checked_at,
    baselineAt: row.baseline_at,
    failures: row.failures,
    failureTold: row.failure_told === 1,
    lastResult: parseResult(row.last_result),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function parseResult(text: string | null): CheckResult | null {
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as CheckResult;
    return value && (value.kind === "ok" || value.kind === "failed") ? value : null;
  } catch {
    return null;
  }
}

const scheduleColumns = (schedule: Schedule) =>
  schedule.kind === "every" ? { every_ms: schedule.ms, cron: null } : { every_ms: null, cron: schedule.expression };

export interface WatchRequest {
  chatId: number;
  userId: number | null;
  url: string;
  schedule?: Schedule;
  match?: string;
  exclude?: string;
  last?: number;
}

/**
 * Adds the chat's subscription to a URL, or updates the one it has (what the request names
 * changes, the rest stays, its entries too). A new one is due at once (its first check);
 * `nextCheckAt` says when an updated one whose schedule changed is checked next.
 */
export async function upsertSubscription(
  db: Db,
  request: WatchRequest,
  options: { now: number; defaultSchedule: Schedule; nextCheckAt: (id: number, schedule: Schedule) => Promise<number> },
): Promise<{ subscription: Subscription; created: boolean }> {
  const { now } = options;
  const existing = await db.selectFrom("subscriptions").selectAll().where("chat_id", "=", request.chatId).where("url", "=", request.url).executeTakeFirst();
  if (!existing) {
    const row = await db
      .insertInto("subscriptions")
      .values({
        chat_id: request.chatId,
        user_id: request.userId,
        url: request.url,
        ...scheduleColumns(request.schedule ?? options.defaultSchedule),
        match_filter: request.match ?? null,
        exclude_filter: request.exclude ?? null,
        last_n: request.last ?? 0,
        next_check_at: now,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { subscription: toSubscription(row), created: true };
  }
  const row = await db
    .updateTable("subscriptions")
    .set({
      user_id: request.userId,
      ...(request.schedule ? { ...scheduleColumns(request.schedule), next_check_at: await options.nextCheckAt(existing.id, request.schedule) } : {}),
      ...(request.match !== undefined ? { match_filter: request.match } : {}),
      ...(request.exclude !== undefined ? { exclude_filter: request.exclude } : {}),
      ...(request.last !== undefined ? { last_n: request.last } : {}),
      updated_at: now,
    })
    .where("id", "=", existing.id)
    .where("chat_id", "=", request.chatId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return { subscription: toSubscription(row), created: false };
}

/** The chat's subscription `id`, or undefined (another chat's is not there for it). */
export async function findSubscription(db: Db, chatId: number, id: number): Promise<Subscription | undefined> {
  const row = await db.selectFrom("subscriptions").selectAll().where("id", "=", id).where("chat_id", "=", chatId).executeTakeFirst();
  return row ? toSubscription(row) : undefined;
}

/** The chat's subscriptions, oldest first, each with how many entries it queued so far. */
export async function listSubscriptions(db: Db, chatId: number): Promise<SubscriptionSummary[]> {
  const rows = await db
    .selectFrom("subscriptions as s")
    .selectAll("s")
    .select((eb) =>
      eb
        .selectFrom("subscription_entries as e")
        .select((e) => e.fn.countAll<number>().as("n"))
        .whereRef("e.subscription_id", "=", "s.id")
        .where("e.outcome", "=", "queued")
        .as("queued"),
    )
    .where("s.chat_id", "=", chatId)
    .orderBy("s.id")
    .execute();
  return rows.map((row) => ({ ...toSubscription(row), queuedSoFar: Number(row.queued ?? 0) }));
}

/** Removes the chat's subscription `id` with its entries; false when the chat has none such. */
export async function deleteSubscription(db: Db, chatId: number, id: number): Promise<boolean> {
  const result = await db.deleteFrom("subscriptions").where("id", "=", id).where("chat_id", "=", chatId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/**
 * The check due first among the chats in `chatIds` (the scheduler's one look across chats: a chat
 * taken out of `allowedChatIds` keeps its subscriptions, unchecked).
 */
export async function nextDueCheck(db: Db, chatIds: readonly number[]): Promise<{ id: number; chatId: number; nextCheckAt: number } | undefined> {
  if (chatIds.length === 0) return undefined;
  const row = await db
    .selectFrom("subscriptions")
    .select(["id", "chat_id", "next_check_at"])
    .where("chat_id", "in", chatIds)
    .orderBy("next_check_at")
    .orderBy("id")
    .limit(1)
    .executeTakeFirst();
  return row ? { id: row.id, chatId: row.chat_id, nextCheckAt: row.next_check_at } : undefined;
}

/** Other subscriptions' next checks from `from` on (the times a new one is spread around). */
export async function checkTimesFrom(db: Db, from: number, exceptId: number): Promise<number[]> {
  const rows = await db
    .selectFrom("subscriptions")
    .select("next_check_at")
    .where("next_check_at", ">=", from)
    .where("id", "!=", exceptId)
    .orderBy("next_check_at")
    .limit(10_000)
    .execute();
  return rows.map((r) => r.next_check_at);
}

/** Which of `keys` the subscription has seen before. */
export async function seenEntryKeys(db: Db, subscriptionId: number, keys: readonly string[]): Promise<Set<string>> {
  const seen = new Set<string>();
  // In slices: SQLite caps the parameters of one statement.
  for (let i = 0; i < keys.length; i += 500) {
    const slice = keys.slice(i, i + 500);
    const rows = await db
      .selectFrom("subscription_entries")
      .select("entry_key")
      .where("subscription_id", "=", subscriptionId)
      .where("entry_key", "in", slice)
      .execute();
    for (const row of rows) seen.add(row.entry_key);
  }
  return seen;
}

/**
 * Records that the subscription saw `entry`, unless it did before: false then (the caller queues
 * nothing). Called in the transaction that stores the entry's item.
 */
export async function recordEntry(
  db: Db,
  subscriptionId: number,
  entry: Entry,
  outcome: EntryOutcome,
  itemId: number | null,
  now: number,
): Promise<boolean> {
  const result = await db
    .insertInto("subscription_entries")
    .values({
      subscription_id: subscriptionId,
      entry_key: entry.key,
      url: entry.url,
      title: entry.title,
      published_at: entry.publishedAt,
      outcome,
      item_id: itemId,
      seen_at: now,
    })
    .onConflict((oc) => oc.columns(["subscription_id", "entry_key"]).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
}

/** Whether the chat still has the subscription (a check running while it is removed stores nothing). */
export async function subscriptionExists(db: Db, chatId: number, id: number): Promise<boolean> {
  const row = await db.selectFrom("subscriptions").select("id").where("id", "=", id).where("chat_id", "=", chatId).executeTakeFirst();
  return row !== undefined;
}

export interface CheckRecord {
  kind?: WatchKind;
  name?: string | null;
  nextCheckAt: number;
  checkedAt: number;
  baselineAt?: number;
  failures: number;
  failureTold: boolean;
  result: CheckResult;
}

/** Stores how a check of the chat's subscription went and when the next one comes. */
export async function recordCheck(db: Db, chatId: number, id: number, record: CheckRecord): Promise<void> {
  await db
    .updateTable("subscriptions")
    .set({
      ...(record.kind ? { kind: record.kind } : {}),
      ...(record.name !== undefined ? { name: record.name } : {}),
      ...(record.baselineAt !== undefined ? { baseline_at: record.baselineAt } : {}),
      next_check_at: record.nextCheckAt,
      checked_at: record.checkedAt,
      failures: record.failures,
      failure_told: record.failureTold ? 1 : 0,
      last_result: JSON.stringify(record.result),
      updated_at: record.checkedAt,
    })
    .where("id", "=", id)
    .where("chat_id", "=", chatId)
    .execute();
}

/** Moves the chat's subscription's next check (spread out among the others). */
export async function setNextCheck(db: Db, chatId: number, id: number, at: number): Promise<void> {
  await db.updateTable("subscriptions").set({ next_check_at: at }).where("id", "=", id).where("chat_id", "=", chatId).execute();
}

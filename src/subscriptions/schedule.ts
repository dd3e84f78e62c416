import { Cron } from "croner";
import type { Schedule } from "./subscription.ts";

/**
 * When a subscription is checked next (pure): after its interval, at its cron expression's next
 * time, later and later while checks fail, and never at the same moment as another's check.
 */

export const MINUTE_MS = 60_000;
/** Checking more often than this is refused: a feed is not a chat. */
export const MIN_INTERVAL_MS = 15 * MINUTE_MS;
export const DEFAULT_SCHEDULE: Schedule = { kind: "every", ms: 60 * MINUTE_MS };
/** Failed checks wait up to this many intervals (1, 2, 4, 8), and at most two days. */
const MAX_BACKOFF_FACTOR = 8;
const MAX_BACKOFF_MS = 2 * 24 * 60 * MINUTE_MS;

const UNITS: Record<string, number> = {
  m: MINUTE_MS, min: MINUTE_MS, mins: MINUTE_MS, minute: MINUTE_MS, minutes: MINUTE_MS,
  h: 60 * MINUTE_MS, hr: 60 * MINUTE_MS, hrs: 60 * MINUTE_MS, hour: 60 * MINUTE_MS, hours: 60 * MINUTE_MS,
  d: 24 * 60 * MINUTE_MS, day: 24 * 60 * MINUTE_MS, days: 24 * 60 * MINUTE_MS,
  w: 7 * 24 * 60 * MINUTE_MS, week: 7 * 24 * 60 * MINUTE_MS, weeks: 7 * 24 * 60 * MINUTE_MS,
};

/** Why a schedule was refused (the chat side words it). */
export type ScheduleProblem = { kind: "badSchedule"; text: string } | { kind: "tooOften"; text: string; minMs: number };

/**
 * "30m", "2h", "1 day", "90 minutes", or a cron expression of five fields ("0 6 * * *", UTC).
 *
 * @example
 * parseSchedule("2h") // → { ok: true, schedule: { kind: "every", ms: 7_200_000 } }
 */
export function parseSchedule(text: string): { ok: true; schedule: Schedule } | { ok: false; problem: ScheduleProblem } {
  const trimmed = text.trim().replace(/\s+/g, " ");
  const interval = /^(\d{1,6})\s?([a-z]+)$/i.exec(trimmed);
  if (interval) {
    const unit = UNITS[interval[2]!.toLowerCase()];
    if (!unit) return { ok: false, problem: { kind: "badSchedule", text: trimmed } };
    const ms = Number(interval[1]) * unit;
    if (ms < MIN_INTERVAL_MS) return { ok: false, problem: { kind: "tooOften", text: trimmed, minMs: MIN_INTERVAL_MS } };
    return { ok: true, schedule: { kind: "every", ms } };
  }
  if (trimmed.split(" ").length !== 5) return { ok: false, problem: { kind: "badSchedule", text: trimmed } };
  let cron: Cron;
  try {
    cron = cronOf(trimmed);
  } catch {
    return { ok: false, problem: { kind: "badSchedule", text: trimmed } };
  }
  // The shortest gap over the next runs (a day of "*/5" or "0,5 * * * *" is plenty to see it).
  const runs = cron.nextRuns(200, new Date(Date.UTC(2030, 0, 1))).map((d) => d.getTime());
  if (runs.length < 2) return { ok: false, problem: { kind: "badSchedule", text: trimmed } };
  const gap = Math.min(...runs.slice(1).map((t, i) => t - runs[i]!));
  if (gap < MIN_INTERVAL_MS) return { ok: false, problem: { kind: "tooOften", text: trimmed, minMs: MIN_INTERVAL_MS } };
  return { ok: true, schedule: { kind: "cron", expression: trimmed } };
}

function cronOf(expression: string): Cron {
  return new Cron(expression, { paused: true, timezone: "Etc/UTC" });
}

/** The time of the `n`th (1-based) check after `from`. */
function nthAfter(schedule: Schedule, from: number, n: number): number {
  if (schedule.kind === "every") return from + schedule.ms * n;
  const runs = cronOf(schedule.expression).nextRuns(n, new Date(from));
  return runs.at(-1)?.getTime() ?? from + MAX_BACKOFF_MS;
}

/** When the check after one that worked (or the first) comes. */
export function nextCheckAfter(schedule: Schedule, from: number): number {
  return nthAfter(schedule, from, 1);
}

/**
 * When a check that failed for the `failures`th time in a row is tried again: at the next
 * interval, then every 2nd, 4th and 8th (a cron's 2nd, 4th, 8th time), at most two days on.
 */
export function retryAfterFailure(schedule: Schedule, from: number, failures: number): number {
  const factor = Math.min(2 ** Math.max(0, failures - 1), MAX_BACKOFF_FACTOR);
  const next = nthAfter(schedule, from, factor);
  const first = nthAfter(schedule, from, 1);
  return Math.max(first, Math.min(next, from + MAX_BACKOFF_MS));
}

/**
 * The first time at or after `at` that is at least `gapMs` from every time in `taken` (the other
 * subscriptions' next checks): checks of different subscriptions are spread out, never a burst.
 *
 * @example
 * spreadOut(1000, [1000, 1500], 1000) // → 2500
 */
export function spreadOut(at: number, taken: readonly number[], gapMs: number): number {
  if (gapMs <= 0) return at;
  const sorted = [...taken].sort((a, b) => a - b);
  let t = at;
  for (const other of sorted) {
    if (other + gapMs <= t) continue;
    if (other - gapMs >= t) break;
    t = other + gapMs;
  }
  return t;
}

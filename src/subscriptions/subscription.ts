/**
 * A chat's subscription (/watch): a feed, a playlist or a listing page whose new entries are
 * queued by themselves on a schedule. The types only; `db/subscription-repository.ts` stores them,
 * `checker.ts` checks one, `scheduler.ts` decides when. Data only: the chat side words it all.
 */

import type { ErrorReason } from "../errors.ts";

/** What a subscription reads: an RSS or Atom feed, a playlist yt-dlp lists, a page of files. */
export type WatchKind = "feed" | "playlist" | "listing";
export const WATCH_KINDS: readonly WatchKind[] = ["feed", "playlist", "listing"];

/** When it is checked: every so long (15 minutes at least), or by a cron expression (UTC). */
export type Schedule = { kind: "every"; ms: number } | { kind: "cron"; expression: string };

/** What started a check: the schedule, `/check`, or `/watch` of a new subscription. */
export type CheckTrigger = "schedule" | "manual" | "first";

/** How a check went: data for /watches, /check and the chat's notes. */
export type CheckResult =
  | {
      kind: "ok";
      /** Entries the source lists now. */
      found: number;
      /** Of them, not seen before. */
      fresh: number;
      queued: number;
      /** Open in the chat already (pasted by hand, say): not queued again. */
      duplicate: number;
      /** Refused by the checks a pasted link goes through (too large, a private address...). */
      refused: number;
      /** Left out by `match`/`exclude`. */
      filtered: number;
      /** New entries over `crawlMaxItems`, left for the next check. */
      left: number;
      /** The subscription's first check: what was there before is not queued (but `last n`). */
      first: boolean;
    }
  | { kind: "failed"; code: string; reason: ErrorReason };

export interface Subscription {
  id: number;
  chatId: number;
  userId: number | null;
  url: string;
  kind: WatchKind | null;
  /** The feed's, playlist's or page's title, once a check read it. */
  name: string | null;
  schedule: Schedule;
  /** As given to /watch: words (every one must be in the title) or a /regex/. */
  match: string | null;
  exclude: string | null;
  /** How many of the newest entries the first check queues. */
  lastN: number;
  nextCheckAt: number;
  checkedAt: number | null;
  /** When the first check that worked ran; null: the next check is the first. */
  baselineAt: number | null;
  /** Failed checks in a row. */
  failures: number;
  /** The chat was told the checks keep failing (and is told once when they work again). */
  failureTold: boolean;
  lastResult: CheckResult | null;
  createdAt: number;
  updatedAt: number;
}

/** A subscription with how many entries it queued so far (/watches). */
export interface SubscriptionSummary extends Subscription {
  queuedSoFar: number;
}

/** One entry a source lists: a feed's item, a playlist's video, a listing's file. */
export interface Entry {
  /** The feed's guid, else the entry's URL: what makes it the same entry at the next check. */
  key: string;
  /** What is queued: an enclosure, the entry's page, a file. */
  url: string;
  title: string | null;
  /** Epoch ms, when the source says. */
  publishedAt: number | null;
  /** The URL must be a file (an enclosure, a listing's file), not a web page. */
  expectFile?: boolean;
}

/** What a source lists, oldest entry first. */
export interface Listing {
  kind: WatchKind;
  name: string | null;
  entries: Entry[];
}

/** What became of an entry a check saw: stored once, so it is never queued twice. */
export type EntryOutcome = "queued" | "duplicate" | "refused" | "filtered" | "baseline";

/** At most this many failed checks in a row before the chat hears of it, once. */
export const FAILURES_BEFORE_TELLING = 3;

import { parseFilter } from "./filters.ts";
import { type ScheduleProblem, parseSchedule } from "./schedule.ts";
import type { Schedule } from "./subscription.ts";

/**
 * What `/watch <url> [every <interval>] [match <words or /regex/>] [exclude <...>] [last <n>]`
 * asks for (pure). A keyword's value runs up to the next keyword; a `/regex/` is read whole, so
 * a keyword inside one stays part of it.
 */

export interface WatchArgs {
  url: string;
  /** Absent: the default (or, for a /watch that updates, what it was). */
  schedule?: Schedule;
  match?: string;
  exclude?: string;
  last?: number;
}

export type WatchProblem =
  | { kind: "noUrl" }
  | { kind: "badUrl"; text: string }
  | { kind: "badFilter"; keyword: "match" | "exclude"; text: string }
  | { kind: "badLast"; text: string }
  | { kind: "unexpected"; text: string }
  | ScheduleProblem;

const KEYWORDS = ["every", "match", "exclude", "last"] as const;
type Keyword = (typeof KEYWORDS)[number];
/** The most entries `last` may ask the first check for. */
export const MAX_LAST = 50;

export function parseWatchArgs(text: string): { ok: true; args: WatchArgs } | { ok: false; problems: WatchProblem[] } {
  const input = text.trim();
  if (!input) return { ok: false, problems: [{ kind: "noUrl" }] };
  const [first = "", ...rest] = input.split(/\s+/);
  const problems: WatchProblem[] = [];
  let url: string;
  try {
    const parsed = new URL(first);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("not http");
    url = parsed.href;
  } catch {
    return { ok: false, problems: [{ kind: "badUrl", text: first }] };
  }
  const args: WatchArgs = { url };
  const values = splitKeywords(rest.join(" "));
  if (values.leading) problems.push({ kind: "unexpected", text: values.leading });
  for (const [keyword, value] of values.pairs) {
    if (keyword === "every") {
      const parsed = parseSchedule(value);
      if (parsed.ok) args.schedule = parsed.schedule;
      else problems.push(parsed.problem);
    } else if (keyword === "last") {
      const n = /^\d{1,3}$/.test(value) ? Number(value) : Number.NaN;
      if (Number.isInteger(n) && n >= 0 && n <= MAX_LAST) args.last = n;
      else problems.push({ kind: "badLast", text: value });
    } else {
      if (parseFilter(value)) args[keyword] = value;
      else problems.push({ kind: "badFilter", keyword, text: value });
    }
  }
  return problems.length ? { ok: false, problems } : { ok: true, args };
}

/** The text after the URL, cut at its keywords; a value that starts with "/" runs to its closing "/". */
function splitKeywords(text: string): { leading: string; pairs: Array<[Keyword, string]> } {
  const tokens = text.split(/\s+/).filter(Boolean);
  const pairs: Array<[Keyword, string]> = [];
  const leading: string[] = [];
  let current: { keyword: Keyword; words: string[] } | undefined;
  const flush = () => {
    if (current) pairs.push([current.keyword, current.words.join(" ")]);
  };
  let inRegex = false;
  for (const token of tokens) {
    const keyword = KEYWORDS.find((k) => k === token.toLowerCase());
    if (keyword && !inRegex) {
      flush();
      current = { keyword, words: [] };
      continue;
    }
    if (!current) {
      leading.push(token);
      continue;
    }
    if (current.words.length === 0 && token.startsWith("/")) inRegex = !/^\/.+\/[a-z]*$/.test(token);
    else if (inRegex && /\/[a-z]*$/.test(token)) inRegex = false;
    current.words.push(token);
  }
  flush();
  return { leading: leading.join(" "), pairs };
}

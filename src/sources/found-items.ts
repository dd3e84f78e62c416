import { stopReason } from "../errors.ts";
import type { FoundItem, SourceContext, SourceResult } from "./source.ts";

/**
 * What a source found to queue as items of their own (a page's files, a playlist's entries), put
 * through the same checks as a pasted link; the item that found them ends with one summary.
 */

/** What became of the files found on a page, for the one-line summary. */
export interface CrawlTally {
  found: number;
  added: number;
  overCap: number;
  cap: number;
  tooLarge: number;
  alreadyQueued: number;
  refused: number;
  /** Why the first refused file was refused (a user message). */
  firstRefusal?: string;
}

/**
 * Resolves with `work`, or rejects with the stop reason as soon as `signal` aborts (a pre-check
 * can wait on a slow server for many seconds; pause and cancel must not). A pre-check overtaken
 * this way still finishes: the file it queues is simply "already queued" when the page is read again.
 */
function untilAborted<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(stopReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(stopReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * One sentence about a crawl, each word once. Pure.
 *
 * @example
 * summarizeCrawl({ found: 80, added: 50, overCap: 30, cap: 50, tooLarge: 0, alreadyQueued: 0, refused: 0 })
 * // → "80 files found: 50 queued, 30 skipped (over the limit of 50 per page)."
 */
export function summarizeCrawl(t: CrawlTally): string {
  const found = `${plural(t.found, "file")} found`;
  const skipped = t.overCap + t.tooLarge + t.alreadyQueued + t.refused;
  if (skipped === 0) return t.found === 1 ? `${found}, queued.` : `${found}, all queued.`;
  const reasons: string[] = [];
  if (t.overCap) reasons.push(`${t.overCap === skipped ? "" : `${t.overCap} `}over the limit of ${t.cap} per page`);
  if (t.tooLarge) reasons.push(`${t.tooLarge === skipped ? "" : `${t.tooLarge} `}too large`);
  if (t.alreadyQueued) reasons.push(`${t.alreadyQueued === skipped ? "" : `${t.alreadyQueued} `}already in line`);
  if (t.refused) reasons.push(`${t.refused === skipped ? "" : `${t.refused} `}refused${t.firstRefusal ? `: ${t.firstRefusal.replace(/\.$/, "")}` : ""}`);
  const queued = t.added === 0 ? "none queued" : `${t.added} queued`;
  return `${found}: ${queued}, ${skipped} skipped (${reasons.join("; ")}).`;
}

/** Ends the page item without an upload: the worker reports the outcome, the chat's one answer about the page. */
export function finishPage(ctx: SourceContext, message: string): SourceResult {
  ctx.logger.info({ page: ctx.item.url, message }, "page done");
  return { kind: "done", message };
}

/**
 * Queues what a page lists (its files, or a yt-dlp playlist's entries) as items of their own, at
 * most `maxItems`, each through the same checks as a pasted link; the page item ends with one summary.
 */
export async function queueFound(ctx: SourceContext, found: FoundItem[], maxItems: number): Promise<SourceResult> {
  const { item, signal } = ctx;
  const considered = found.slice(0, maxItems);
  const tally: CrawlTally = {
    found: found.length,
    added: 0,
    overCap: found.length - considered.length,
    cap: maxItems,
    tooLarge: 0,
    alreadyQueued: 0,
    refused: 0,
  };
  for (const [index, entry] of considered.entries()) {
    if (signal.aborted) throw stopReason(signal);
    ctx.progress({ bytesDone: 0, totalBytes: null, stage: { kind: "queueing-found", done: index + 1, total: considered.length } });
    // Through the same checks as a pasted link: the guard, the size pre-check, duplicates.
    const outcome = await untilAborted(signal, ctx.enqueue(entry));
    if (outcome.status === "queued") tally.added++;
    else if (outcome.status === "duplicate") tally.alreadyQueued++;
    else if (outcome.error.code === "TOO_LARGE") tally.tooLarge++;
    else {
      tally.refused++;
      tally.firstRefusal ??= outcome.error.userMessage;
    }
  }
  ctx.logger.info({ page: item.url, ...tally }, "queued the files of a page");
  return finishPage(ctx, summarizeCrawl(tally));
}

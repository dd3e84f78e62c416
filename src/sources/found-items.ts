import { stopReason } from "../errors.ts";
import type { CrawlTally, DoneSummary, FoundItem, SourceContext, SourceResult } from "./source.ts";

/**
 * What a source found to queue as items of their own (a page's files, a playlist's entries), put
 * through the same checks as a pasted link; the item that found them ends with one summary.
 */

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

/** Ends the page item without an upload: the worker reports the outcome, the chat's one answer about the page. */
export function finishPage(ctx: SourceContext, summary: DoneSummary): SourceResult {
  ctx.logger.info({ page: ctx.item.url, summary }, "page done");
  return { kind: "done", summary };
}

/**
 * Queues what a page lists (its files, or a yt-dlp playlist's entries) as items of their own, at
 * most `maxItems`, each through the same checks as a pasted link; the page item ends with one
 * summary. `chosen`: they are the videos someone chose from the page, not all it lists.
 */
export async function queueFound(ctx: SourceContext, found: FoundItem[], maxItems: number, options: { chosen?: boolean } = {}): Promise<SourceResult> {
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
    ...(options.chosen ? { chosen: true } : {}),
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
      tally.firstRefusal ??= outcome.error.reason;
    }
  }
  ctx.logger.info({ page: item.url, ...tally }, "queued the files of a page");
  return finishPage(ctx, { kind: "found", tally });
}

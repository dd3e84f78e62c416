import type { CrawlTally, DoneSummary } from "../../sources/source.ts";
import { describeReason } from "./error-view.ts";

/** The one line about an item that sent no file (a page's files queued, a link already in line). Pure. */
export function doneLine(summary: DoneSummary): string {
  if (summary.kind === "found") return summarizeCrawl(summary.tally);
  if (summary.media === "torrent") return `this torrent is already in the queue as #${summary.itemId}.`;
  const where = summary.position !== null ? `position ${summary.position} in the queue` : summary.status;
  return `its ${summary.media} is already in the queue as #${summary.itemId} (${where}).`;
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
  const found = t.chosen ? `${plural(t.found, "video")} chosen` : `${plural(t.found, "file")} found`;
  const skipped = t.overCap + t.tooLarge + t.alreadyQueued + t.refused;
  if (skipped === 0) return t.found === 1 ? `${found}, queued.` : `${found}, all queued.`;
  const reasons: string[] = [];
  if (t.overCap) reasons.push(`${t.overCap === skipped ? "" : `${t.overCap} `}over the limit of ${t.cap} per page`);
  if (t.tooLarge) reasons.push(`${t.tooLarge === skipped ? "" : `${t.tooLarge} `}too large`);
  if (t.alreadyQueued) reasons.push(`${t.alreadyQueued === skipped ? "" : `${t.alreadyQueued} `}already in line`);
  if (t.refused) reasons.push(`${t.refused === skipped ? "" : `${t.refused} `}refused${t.firstRefusal ? `: ${describeReason(t.firstRefusal).replace(/\.$/, "")}` : ""}`);
  const queued = t.added === 0 ? "none queued" : `${t.added} queued`;
  return `${found}: ${queued}, ${skipped} skipped (${reasons.join("; ")}).`;
}

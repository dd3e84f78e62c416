import type { Got } from "got";
import pLimit from "p-limit";
import { stopReason } from "../errors.ts";
import { type Choice, type EntriesOffer, type OfferedEntry, chosenEntries } from "../items/choice.ts";
import { isHtml } from "./content-kind.ts";
import { queueFound } from "./found-items.ts";
import { filenameFromUrl, probeUrl } from "./http-probe.ts";
import type { PageMedia } from "./page-media.ts";
import type { SourceContext, SourceResult } from "./source.ts";

/**
 * A page that shows several videos (a gallery of clips, a player's playlist): the question which
 * of them should come, and, once chosen, those videos queued as items of their own, through the
 * same checks as a pasted link, as a page's files are.
 */

/** Pre-checks of a gallery's videos at once. */
const PROBES_AT_ONCE = 4;

/**
 * What a page with several videos offers: each video (at most `maxItems`, the page's own address
 * left out) with its size from a pre-check. A "video" that turns out to be a page of its own (an
 * embedded player) is not offered. Null when fewer than two remain: nothing to choose between.
 */
export async function galleryOffer(
  http: Got,
  ctx: SourceContext,
  media: PageMedia,
  isSelf: (url: string) => boolean,
  maxItems: number,
): Promise<EntriesOffer | null> {
  const candidates = media.entries.filter((e) => !isSelf(e.url)).slice(0, maxItems);
  if (candidates.length < 2) return null;
  const limit = pLimit(PROBES_AT_ONCE);
  const probed = await Promise.all(
    candidates.map((entry) =>
      limit(async () => {
        if (ctx.signal.aborted) throw stopReason(ctx.signal);
        try {
          const probe = await probeUrl(http, entry.url, ctx.signal);
          return probe.contentType && isHtml(probe.contentType) ? null : { entry, size: probe.size };
        } catch (error) {
          if (ctx.signal.aborted) throw stopReason(ctx.signal);
          // Offered all the same: queued, it goes through the checks of any link and the summary says why it did not come.
          ctx.logger.debug({ url: entry.url, err: error instanceof Error ? error.message : String(error) }, "gallery video pre-check failed");
          return { entry, size: null };
        }
      }),
    ),
  );
  const entries: OfferedEntry[] = probed
    .filter((p) => p !== null)
    .map(({ entry, size }, index) => ({ index, title: entry.title ?? filenameFromUrl(entry.url), url: entry.url, sizeBytes: size }));
  if (entries.length < 2) return null;
  // What the page gives without a question: its main video, or everything it lists.
  const main = media.main ? (entries.find((e) => e.url === media.main!.url)?.title ?? media.title ?? filenameFromUrl(media.main.url)) : null;
  return { kind: "entries", entries, main };
}

/**
 * The videos chosen from a page's offer, queued as items of their own (as the person saw them:
 * the page is not read again); the page item ends with one summary.
 */
export function queueChosenEntries(ctx: SourceContext, offer: EntriesOffer, choice: Extract<Choice, { kind: "entries" }>, maxItems: number): Promise<SourceResult> {
  const chosen = chosenEntries(offer, choice);
  ctx.logger.info({ page: ctx.item.url, chosen: chosen.length, of: offer.entries.length }, "queueing the videos chosen from a page");
  return queueFound(
    ctx,
    chosen.map((e) => ({ url: e.url, expectFile: true })),
    maxItems,
    { chosen: true },
  );
}

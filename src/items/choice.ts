/**
 * Items that wait for a choice before they download: which files of a torrent, which quality of a
 * video, which videos of a page that shows several. The source makes an offer (data only); the item waits in the `choosing` status, the next
 * item runs meanwhile; a person's choice (or the timeout's default) sends it back in line at its
 * place. Offer and choice are stored on the item as JSON, so a restart keeps both. Pure.
 */

/** One file of a torrent as offered: its index in the torrent, its path and size. */
export interface OfferedFile {
  index: number;
  path: string;
  size: number;
  /** Over `maxFileSizeBytes` (or empty): shown, never picked. */
  selectable: boolean;
}

/** One quality of a video: a stream's variant or a site's format. */
export interface OfferedQuality {
  /** What the source knows it by (a variant's index, a yt-dlp format id). */
  id: string;
  height: number | null;
  /** Estimated; null when the source cannot tell. */
  sizeBytes: number | null;
  /** Within the size limit: only those are offered as buttons. */
  fits: boolean;
}

/** One video of a page that shows several (a gallery, a player's playlist). */
export interface OfferedEntry {
  /** Its place among the videos offered, in page order (0-based). */
  index: number;
  /** What the page calls it, else its file name. */
  title: string;
  url: string;
  /** From a pre-check; null when the server does not say. */
  sizeBytes: number | null;
}

export type ChoiceOffer =
  | { kind: "files"; files: OfferedFile[] }
  | { kind: "quality"; qualities: OfferedQuality[]; audio: boolean }
  /**
   * `main`: what comes when nobody chooses, as without a question: the title of the page's main
   * video, or null when every video (and file) the page lists comes.
   */
  | { kind: "entries"; entries: OfferedEntry[]; main: string | null };

export type EntriesOffer = Extract<ChoiceOffer, { kind: "entries" }>;

/**
 * What was chosen. `files`: those indices. `quality`: that option. `best`: the best that fits
 * (today's behaviour). `audio`: the audio track only. `entries`: those videos of a page, each to
 * be queued as an item of its own. `default`: nobody chose in time, or asking is off: every file
 * that fits, the best quality that fits, a page as without a question.
 */
export type Choice =
  | { kind: "files"; indices: number[] }
  | { kind: "entries"; indices: number[] }
  | { kind: "quality"; id: string }
  | { kind: "best" }
  | { kind: "audio" }
  | { kind: "default"; timedOut: boolean };

/** The files a choice takes from an offer (all that fit unless files were picked). */
export function chosenFiles(offer: Extract<ChoiceOffer, { kind: "files" }>, choice: Choice | null): OfferedFile[] {
  const selectable = offer.files.filter((f) => f.selectable);
  if (choice?.kind !== "files") return selectable;
  const picked = new Set(choice.indices);
  return selectable.filter((f) => picked.has(f.index));
}

const VIDEO = /\.(mp4|m4v|mkv|webm|avi|mov|wmv|flv|ts|mpg|mpeg)$/i;

/** The selectable files that look like videos (the "Videos only" button). */
export function videoIndices(offer: Extract<ChoiceOffer, { kind: "files" }>): number[] {
  return offer.files.filter((f) => f.selectable && VIDEO.test(f.path)).map((f) => f.index);
}

/** A draft selection with one file toggled; files that cannot be picked stay out. */
export function toggleFile(offer: Extract<ChoiceOffer, { kind: "files" }>, indices: readonly number[], index: number): number[] {
  const file = offer.files.find((f) => f.index === index);
  if (!file?.selectable) return [...indices];
  const set = new Set(indices);
  if (set.has(index)) set.delete(index);
  else set.add(index);
  return offer.files.filter((f) => set.has(f.index)).map((f) => f.index);
}

/** The draft a question starts from: every file that can be picked. */
export function initialDraft(offer: ChoiceOffer): number[] {
  return offer.kind === "files" ? offer.files.filter((f) => f.selectable).map((f) => f.index) : [];
}

/**
 * Choosing from a page's videos: one of them (by its index) or all; null for an index the offer
 * does not have.
 */
export function entriesChoice(offer: EntriesOffer, which: number | "all"): Extract<Choice, { kind: "entries" }> | null {
  if (which === "all") return { kind: "entries", indices: offer.entries.map((e) => e.index) };
  return offer.entries.some((e) => e.index === which) ? { kind: "entries", indices: [which] } : null;
}

/** The videos of a page an `entries` choice takes, in page order. */
export function chosenEntries(offer: EntriesOffer, choice: Extract<Choice, { kind: "entries" }>): OfferedEntry[] {
  const picked = new Set(choice.indices);
  return offer.entries.filter((e) => picked.has(e.index));
}

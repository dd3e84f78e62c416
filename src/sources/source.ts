import type { AppError, ErrorReason } from "../errors.ts";
import type { Choice, ChoiceOffer } from "../items/choice.ts";
import type { DeliverableFile, Item, ItemStatus, SourceKind } from "../items/item.ts";
import type { Logger } from "../logger.ts";
import type { Segment } from "../db/segment-repository.ts";

/**
 * Where a transfer is, beyond its bytes: data for whoever presents it (the chat side turns each
 * into a line), never a sentence made here.
 */
export type TransferStage =
  | { kind: "reading-page" }
  | { kind: "queueing-found"; done: number; total: number }
  | { kind: "reading-playlist" }
  | { kind: "segments"; done: number; total: number }
  | { kind: "joining-segments" }
  | { kind: "site-reading-page"; limitSeconds: number }
  | { kind: "site-opening-video"; limitSeconds: number }
  | { kind: "torrent-metadata"; peers: number }
  | { kind: "torrent-checking"; peers: number }
  | { kind: "torrent"; peers: number; downBytesPerSec: number; upBytesPerSec: number }
  /** `after`: the stage the download ended in (a torrent's peers stay in view meanwhile). */
  | { kind: "preparing-upload"; after?: TransferStage }
  /** The file still downloads; `sent` of its `of` byte parts are in the chat already. */
  | { kind: "parts-sent"; sent: number; of: number }
  /** Files `from`-`to` (1-based) of `of` going up together, the first named. */
  | { kind: "uploading-files"; from: number; to: number; of: number; name: string };

/** What a handler reports while it works; the worker turns it into the item's progress event. */
export interface TransferProgress {
  bytesDone: number;
  totalBytes: number | null;
  stage?: TransferStage;
}

/** A finished file ready to be uploaded (defined with the item it belongs to). */
export type { DeliverableFile } from "../items/item.ts";

export interface SourceContext extends SourceHelpers {
  item: Item;
  /** The item's own working directory (created by the worker). */
  dir: string;
  /** Aborted on cancel, pause or shutdown; handlers stop within a second and keep their bytes. */
  signal: AbortSignal;
  maxBytes: number;
  logger: Logger;
  progress(p: TransferProgress): void;
  /** Persists what a retry needs (validators, size, title) right away. */
  checkpoint(patch: { title?: string; sizeBytes?: number | null; etag?: string | null; lastModified?: string | null }): Promise<void>;
  /** Where each part of a file fetched over several connections got (kept across retries and restarts). */
  segments: SegmentStore;
  /**
   * The source writes one file in place whose size it knows before the bytes arrive (a direct
   * download): the worker may upload byte ranges of it that are on disk while the rest downloads.
   * Called when the writing starts (again, when a retry resumes it); progress() says when to look.
   */
  growing?(file: GrowingFile): Promise<void>;
  /**
   * The sources that found nothing at the item's URL in this attempt (a reroute's `declined`):
   * none sends the item back to one of them. Absent: none.
   */
  declined?: ReadonlySet<SourceKind>;
  /** What was chosen for this item (files, a quality), or null: nothing was asked or chosen yet. */
  choice?: Choice | null;
  /**
   * What the source may ask before it downloads (return `choose`): which files, which quality,
   * which videos of a page. All off once something was chosen, when asking is off
   * (`chooseTimeoutMs` 0) or by the chat's settings.
   */
  ask?: Asks;
}

/** A file being written: where, its final size, and which of its bytes are on disk already. */
export interface GrowingFile {
  path: string;
  name: string;
  /** Null when the server did not say: then nothing of it goes up before it is whole. */
  size: number | null;
  /** Written from its first byte, nothing kept from before (a resume keeps what is there). */
  fresh: boolean;
  /** How many of bytes [from, to) are not written yet (0: a read of them sees the download's bytes). */
  missing(from: number, to: number): number;
}

/** What a source may ask about: a torrent's files, a video's quality, the videos a page shows. */
export interface Asks {
  files: boolean;
  quality: boolean;
  entries: boolean;
}

export interface SegmentStore {
  load(): Promise<Segment[]>;
  save(segments: Segment[]): Promise<void>;
  clear(): Promise<void>;
}

/**
 * A handler's answer: files to upload, or a hand-off (the item turned out to be another kind, e.g.
 * a URL that serves a .torrent, an HTML page or a stream's manifest) that the worker routes again
 * at once. `declined`: the source found nothing at the item's URL (yt-dlp knows the site but not
 * the link), so it goes on elsewhere and is not sent back there while its URL stays the same.
 */
export type SourceResult =
  | { kind: "files"; files: DeliverableFile[] }
  | { kind: "reroute"; sourceKind: SourceKind; url?: string; declined?: boolean }
  | { kind: "done"; summary: DoneSummary }
  /** Nothing is fetched before someone chooses from `offer`: the item waits for the choice. */
  | { kind: "choose"; offer: ChoiceOffer };

/** What became of the files found on a page (or a playlist), for the one summary. */
export interface CrawlTally {
  found: number;
  added: number;
  overCap: number;
  cap: number;
  tooLarge: number;
  alreadyQueued: number;
  refused: number;
  /** Why the first refused file was refused. */
  firstRefusal?: ErrorReason;
  /** The files are videos chosen from the page's question, not all it lists. */
  chosen?: boolean;
}

/** What a handler has to say about an item besides its progress: data for the presenter. */
export type SourceNotice = {
  kind: "files-skipped";
  title: string;
  tooLarge: Array<{ path: string; length: number }>;
  empty: Array<{ path: string; length: number }>;
  limitBytes: number;
};

/** How an item that sends no file ended: data for the presenter's one line about it. */
export type DoneSummary =
  /** A page's (or playlist's) files were queued as items of their own. */
  | { kind: "found"; tally: CrawlTally }
  /** What the link leads to is already open in the chat as another item. */
  | { kind: "already-queued"; itemId: number; media: "video" | "audio" | "torrent"; position: number | null; status: ItemStatus };

/** A file a handler found (a page listing files, say), to be queued as an item of its own. */
export interface FoundItem {
  url: string;
  /** Refuse it when its pre-check shows a web page (a page of pages is not crawled further). */
  expectFile?: boolean;
}

/** What became of a found item: the same checks as a pasted link (intake's answer). */
export type FoundOutcome =
  | { status: "queued"; item: Item; position: number }
  | { status: "duplicate"; item: Item; position: number | null }
  | { status: "refused"; error: AppError };

/**
 * What a handler may do besides downloading, handed in by the worker (graphile-worker's
 * `helpers`): queue more items, look at the chat's open items, say something in the chat.
 */
export interface SourceHelpers {
  /** Queues a found item in the item's chat, replying to the same request. */
  enqueue(found: FoundItem): Promise<FoundOutcome>;
  /** The chat's open item with this URL, and its place in line when it is waiting. */
  findOpen(url: string): Promise<{ item: Item; position: number | null } | undefined>;
  /** Something about the item its chat should hear (sent as a reply to the request). */
  notice(notice: SourceNotice): Promise<void>;
  /**
   * Throws DISK_FULL when the data disk is down to the reserve kept for the database (or would be,
   * after writing `bytes` more): handlers writing a download of unknown size call it as they go
   * (every few MB), and before a step that copies what they have.
   */
  ensureDiskRoom(bytes?: number): Promise<void>;
}

export interface Source {
  readonly kind: SourceKind;
  download(ctx: SourceContext): Promise<SourceResult>;
}

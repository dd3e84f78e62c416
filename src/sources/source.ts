import type { Item } from "../db/item-repository.ts";
import type { SourceKind } from "../db/schema.ts";
import type { Logger } from "../logger.ts";

/** What a handler reports while it works; the worker turns it into the progress message. */
export interface TransferProgress {
  bytesDone: number;
  totalBytes: number | null;
  /** Short state shown instead of the bar, e.g. "waiting for metadata". */
  note?: string;
  /** Extra lines for the progress message (torrents: peers, upload speed). */
  details?: string[];
}

/** A finished file ready to be uploaded. */
export interface DeliverableFile {
  path: string;
  /** The name Telegram shows. */
  name: string;
  size: number;
  caption?: string;
}

export interface SourceContext {
  item: Item;
  /** The item's own working directory (created by the worker). */
  dir: string;
  /** Aborted on cancel, pause or shutdown; handlers stop within a second and keep their bytes. */
  signal: AbortSignal;
  maxBytes: number;
  logger: Logger;
  progress(p: TransferProgress): void;
  /** Persists what a retry needs (validators, size, title, path) right away. */
  checkpoint(patch: { title?: string; sizeBytes?: number | null; etag?: string | null; lastModified?: string | null; localPath?: string | null }): Promise<void>;
}

/**
 * A handler's answer: files to upload, or a hand-off (the item turned out to be another kind, e.g.
 * a URL that serves a .torrent or an HTML page) that the worker routes again at once.
 */
export type SourceResult =
  | { kind: "files"; files: DeliverableFile[] }
  | { kind: "reroute"; sourceKind: SourceKind; url?: string }
  | { kind: "done"; message: string };

export interface Source {
  readonly kind: SourceKind;
  download(ctx: SourceContext): Promise<SourceResult>;
}

import type { Config } from "../config.ts";
import type { Db } from "../db/database.ts";
import type { Item, ItemFile, SourceKind, Wants } from "../items/item.ts";
import type { Logger } from "../logger.ts";
import type { Asks, DeliverableFile, FoundItem, FoundOutcome, Source } from "../sources/source.ts";
import type { DataDisk } from "../storage/data-disk.ts";
import type { QueueEvents } from "./events.ts";

/** What the worker and its parts are given: the composition root builds it once. */

export type WorkerConfig = Pick<
  Config,
  "dataDir" | "maxFileSizeBytes" | "progressIntervalMs" | "retryDelaysMs" | "uploadLimitBytes" | "splitLargeFiles" | "chooseTimeoutMs"
>;

/** Sends one finished file of an item to its chat; resolves with Telegram's file_id and the method used. */
export type FileUploader = (
  item: Item,
  file: ItemFile,
  options: UploadTransfer,
) => Promise<{ fileId: string | null; kind: string }>;

/** How an upload goes: its stop, its bytes, and (parts of a file still downloading) a wait for each file's bytes. */
export interface UploadTransfer {
  signal: AbortSignal;
  onBytes: (sent: number) => void;
  /** Resolves once bytes [from, to) of the file are on disk. */
  ready?: (from: number, to: number) => Promise<void>;
}

/** Sends 2 to 10 files of an item as one album; resolves with each one's file_id and method, in order. */
export type GroupUploader = (
  item: Item,
  files: ItemFile[],
  options: UploadTransfer,
) => Promise<Array<{ fileId: string | null; kind: string }>>;

/** Queues an item found by a handler (through intake's checks), in the chat and for the request of `of`. */
export type FoundItemQueuer = (of: Item, found: FoundItem) => Promise<FoundOutcome>;

export interface WorkerDeps {
  db: Db;
  logger: Logger;
  config: WorkerConfig;
  sources: Partial<Record<SourceKind, Source>>;
  upload: FileUploader;
  /** Sends files together as one album (2 to 10 parts of a big file); without it, one by one. */
  uploadGroup?: GroupUploader;
  /**
   * What goes up for the downloaded files (only their audio when the item wants that, parts of
   * files over the upload limit, a remux that plays) for `item`'s chat: called once, before the
   * files are recorded. Default: byte parts of files over the limit.
   */
  prepare?: (files: DeliverableFile[], signal: AbortSignal, item: Item) => Promise<DeliverableFile[]>;
  /**
   * The byte parts a file about to be downloaded goes up in, when that is sure (they go up while
   * it downloads), else undefined. Without it, everything goes up once its file is whole.
   */
  planEarly?: (file: DeliverableFile, item: Pick<Item, "chatId" | "wants">) => Promise<DeliverableFile[] | undefined>;
  /** What a chat wants asked before a download (its settings); default: everything. */
  askBefore?: (chatId: number) => Promise<Asks>;
  enqueue: FoundItemQueuer;
  /** Where the worker announces what happens to items. */
  events: QueueEvents;
  /** The data directory's disk: room checks, and the ballast given up when it is full. */
  disk: DataDisk;
  now?: () => number;
}

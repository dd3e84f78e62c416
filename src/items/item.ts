/**
 * The queue item and its lifecycle: the statuses, the groups of statuses the rest of the code asks
 * about, and the moves between them. Pure. `db/item-repository.ts` makes the moves in SQL as named
 * verbs (claimNextItem, markDownloaded, complete, scheduleRetry, fail, stop; pause, resume, cancel,
 * requeue), each a compare-and-set from the statuses named here; no other module writes a status.
 *
 *   queued ──claim──▶ downloading ──files on disk──▶ uploading ──▶ completed
 *     ▲  ▲                 │                             │
 *     │  └── retry, hold, shutdown, crash ◀──────────────┤   (the claim counts the attempt)
 *     │                    ├──▶ paused ◀── (waiting) ────┤        failed / cancelled
 *     └─ resume ◀──────────┘                             └──▶ ─────────┘   │
 *     └──────────────────── /retry ◀───────────────────────────────────────┘
 */

import type { ErrorReason } from "../errors.ts";
import type { Choice, ChoiceOffer } from "./choice.ts";

export type ItemStatus = "queued" | "downloading" | "uploading" | "paused" | "choosing" | "completed" | "failed" | "cancelled";
/** Which source fetches an item: the worker starts it there, and a source may hand it to another (reroute). */
export type SourceKind = "direct" | "torrent" | "crawler" | "stream" | "site";

/** Being worked on by the worker (at most one item at a time). */
export const ACTIVE_STATUSES = ["downloading", "uploading"] as const satisfies readonly ItemStatus[];
/** Not running and not finished: in line (maybe waiting for a retry), set aside, or waiting for a choice. */
export const WAITING_STATUSES = ["queued", "paused", "choosing"] as const satisfies readonly ItemStatus[];
/** Still occupying its URL in the chat (see the items_active_url index): waiting or active. */
export const OPEN_STATUSES = ["queued", "downloading", "uploading", "paused", "choosing"] as const satisfies readonly ItemStatus[];
/**
 * Ended for good, unless someone asks for a retry. In this order: the history's queries spell it
 * out as migration 004's partial index items_chat_finished does, and SQLite matches it term for term.
 */
export const FINISHED_STATUSES = ["completed", "failed", "cancelled"] as const satisfies readonly ItemStatus[];
/** Finished items that /retry may queue again. */
export const RETRYABLE_STATUSES = ["failed", "cancelled"] as const satisfies readonly ItemStatus[];

export type ActiveStatus = (typeof ACTIVE_STATUSES)[number];
export type FinishedStatus = (typeof FINISHED_STATUSES)[number];

const has = (set: readonly ItemStatus[], status: ItemStatus) => set.includes(status);
export const isActive = (status: ItemStatus): status is ActiveStatus => has(ACTIVE_STATUSES, status);
export const isOpen = (status: ItemStatus): boolean => has(OPEN_STATUSES, status);
export const isFinished = (status: ItemStatus): status is FinishedStatus => has(FINISHED_STATUSES, status);
export const isRetryable = (status: ItemStatus): boolean => has(RETRYABLE_STATUSES, status);

/** Every move an item may make. A move not listed here is a bug, refused before any SQL runs. */
const MOVES: Readonly<Record<ItemStatus, readonly ItemStatus[]>> = {
  // Claimed by the worker, set aside, or cancelled while waiting.
  queued: ["downloading", "uploading", "paused", "cancelled"],
  // The files are on disk; the attempt ended (done, failed, retry later); or it was stopped.
  downloading: ["uploading", "completed", "failed", "queued", "paused", "cancelled", "choosing"],
  uploading: ["completed", "failed", "queued", "paused", "cancelled"],
  paused: ["queued", "cancelled"],
  // Chosen (or timed out): back in line at its place; or cancelled while it waits.
  choosing: ["queued", "cancelled"],
  failed: ["queued"],
  cancelled: ["queued"],
  completed: [],
};

export function canMove(from: ItemStatus, to: ItemStatus): boolean {
  return MOVES[from].includes(to);
}

/**
 * What a person asked to get of an item's media beyond the link: `/audio` wants only its audio.
 * Stored with the item (and with the request it comes from), so a retry or a restart keeps it;
 * `{}` is the default: the file as it is, a video at the best quality that fits. Links with
 * different wishes are different items (a video and its audio may both be open in a chat).
 */
export interface Wants {
  /** Deliver only the audio track, as an audio file Telegram plays (`/audio`). */
  audioOnly?: boolean;
  /** A video no taller than this, unless a quality is chosen (the chat's quality cap). */
  maxHeight?: number;
  /** Every file of a torrent, without asking which (`/torrent <link> all`). */
  allFiles?: boolean;
}

export const PRIORITIES = { high: 10, normal: 0, low: -10 } as const;
export type PriorityName = keyof typeof PRIORITIES;

/** The queue item as the rest of the code sees it. */
export interface Item {
  id: number;
  chatId: number;
  userId: number | null;
  requestMessageId: number | null;
  url: string;
  sourceKind: SourceKind;
  title: string;
  sizeBytes: number | null;
  status: ItemStatus;
  priority: number;
  /**
   * Attempts used up: counted when one starts (the claim), so one a crash cuts short counts too;
   * an attempt that ends well (delivered, or stopped on purpose) gives its count back. So it is
   * the number of failed attempts, the running one included while it runs.
   */
  attempts: number;
  nextAttemptAt: number;
  bytesDone: number;
  /** Derived: the download is on disk (its files are recorded) and only the upload is left. */
  downloaded: boolean;
  /** Why the last attempt failed; null once it succeeded (or before any failed). */
  lastError: ErrorReason | null;
  errorCode: string | null;
  etag: string | null;
  lastModified: string | null;
  /** The stored request it came from (a link someone sent), or null (found on a page, say). */
  requestId: number | null;
  /** What was asked of its media (only the audio, say); `{}`: the file as it is. */
  wants: Wants;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** What it waits to be chosen from (see `choice.ts`); null when nothing was offered. */
  choiceOffer: ChoiceOffer | null;
  /** A draft while it waits; then what was chosen (or the default). */
  choice: Choice | null;
  /** While it waits: when the default is taken. */
  choiceDeadline: number | null;
}

/** One file an item delivers, with Telegram's file_id once it went up. */
export interface ItemFile {
  id: number;
  itemId: number;
  position: number;
  path: string;
  name: string;
  sizeBytes: number;
  /** Where in `path` its bytes start: a part of a file over the upload limit. */
  offset: number;
  /** How many parts its file was cut into (they go up together); null for a whole file. */
  partOf: number | null;
  /** Which part it is, 1-based; null for a whole file. */
  partIndex: number | null;
  /** A byte split's first part: the name its parts join back into. */
  joinAs: string | null;
  /** Data about the file (a torrent file's path inside the torrent), not the part's wording. */
  caption: string | null;
  fileId: string | null;
  uploadKind: string | null;
  uploadedAt: number | null;
}

/** What a move may change besides the status. */
export interface ItemPatch {
  attempts?: number;
  nextAttemptAt?: number;
  lastError?: ErrorReason | null;
  errorCode?: string | null;
  bytesDone?: number;
  sizeBytes?: number | null;
  etag?: string | null;
  lastModified?: string | null;
  startedAt?: number | null;
  title?: string;
  sourceKind?: SourceKind;
  url?: string;
  priority?: number;
  choiceOffer?: ChoiceOffer | null;
  choice?: Choice | null;
  choiceDeadline?: number | null;
  wants?: Wants;
}

/** A finished file ready to be uploaded. */
export interface DeliverableFile {
  path: string;
  /** The name Telegram shows. */
  name: string;
  size: number;
  /** Where in `path` the bytes start (a part of a bigger file); 0 by default. */
  offset?: number;
  /** How many parts the file it is a part of was cut into. */
  partOf?: number;
  /** Which part it is, 1-based. */
  partIndex?: number;
  /** A byte split's first part: the name its parts join back into (`cat name.0* > name`). */
  joinAs?: string;
  caption?: string;
}

import type { AppError } from "../errors.ts";
import type { Item } from "../items/item.ts";

/**
 * What the queue tells the world. The worker and queue control call these as things happen and
 * never wait for them (a report must not slow a transfer); the Telegram side implements them as
 * chat messages (`bot/chat-reporter.ts`), tests with a recording fake. `item` is always the item
 * as stored after the event.
 */
export interface QueueReporter {
  /** The worker took the item. */
  started(item: Item, state: TransferState): void;
  /** How the transfer goes; called often, the newest state wins. */
  progress(item: Item, state: TransferState): void;
  /** A handler has something to say about the item (HTML), e.g. files of a torrent it skips. */
  notice(item: Item, html: string): Promise<void>;
  /** The attempt failed and another one comes in `delayMs`. */
  retrying(item: Item, failure: { error: AppError; attempt: number; attempts: number; delayMs: number }): void;
  /** Every file reached the chat. */
  delivered(item: Item, result: { bytes: number; files: number }): void;
  /** The item ended without an upload (a page whose files were queued as items of their own). */
  done(item: Item, message: string): void;
  /** The item failed for good. */
  failed(item: Item, error: AppError): void;
  /**
   * The item was stopped: cancelled, paused, held by a pause of the whole queue, or interrupted
   * by shutdown. `wasRunning` tells a stop of the running transfer from one of a waiting item.
   */
  stopped(item: Item, stop: { reason: StopReason; wasRunning: boolean; waiting: number }): void;
  /** A paused item went back in line. */
  resumed(item: Item, where: { position: number; queuePaused: boolean; waiting: number }): void;
  /**
   * At start: an item as a previous process left it, which still has a live message (it was
   * interrupted, or it ended just before the process did and the chat may not have been told).
   */
  restored(item: Item, where: { queuePaused: boolean; waiting: number }): void;
}

export type StopReason = "cancel" | "pause" | "hold" | "shutdown";

export type Phase = "starting" | "downloading" | "uploading";

/** The running item's transfer, as the worker sees it. */
export interface TransferState {
  title: string;
  phase: Phase;
  bytesDone: number;
  totalBytes: number | null;
  /** Items waiting in the queue behind this one. */
  waiting: number;
  /** Short state shown instead of the bar, e.g. "waiting for metadata". */
  note?: string;
  /** Extra lines (torrents: peers, upload speed). */
  details?: string[];
  /** 1-based, of `attempts`. */
  attempt: number;
  attempts: number;
}

import type { AppError, StopKind } from "../errors.ts";
import type { Choice, ChoiceOffer } from "../items/choice.ts";
import type { Item } from "../items/item.ts";
import type { Logger } from "../logger.ts";
import type { DoneSummary, SourceNotice, TransferStage } from "../sources/source.ts";

export type StopReason = StopKind;

export type Phase = "starting" | "downloading" | "uploading";

/** The running item's transfer, as the worker sees it. */
export interface TransferState {
  title: string;
  phase: Phase;
  bytesDone: number;
  totalBytes: number | null;
  /** Items waiting in the queue behind this one. */
  waiting: number;
  /** Where it is beyond its bytes (waiting for metadata, segments done, the file going up). */
  stage?: TransferStage;
  /** 1-based, of `attempts`. */
  attempt: number;
  attempts: number;
}

/**
 * What happens to items, as the queue announces it (graphile-worker's `events` is the model).
 * The worker and queue control emit these as things happen and never wait for anyone; whoever
 * cares subscribes: the Telegram side renders them as chat messages (`bot/chat-reporter.ts`), a
 * web page could stream them, tests record them. `item` is always the item as stored after the
 * event. Data only: what a person reads is made by the presenter.
 */
export type QueueEvent =
  /** The worker took the item. */
  | { type: "started"; item: Item; transfer: TransferState }
  /** How the transfer goes; emitted often, the newest state wins. */
  | { type: "progress"; item: Item; transfer: TransferState }
  /** A handler has something to say about the item, e.g. files of a torrent it skips. */
  | { type: "notice"; item: Item; notice: SourceNotice }
  /** The attempt failed and another one comes in `delayMs`. */
  | { type: "retrying"; item: Item; error: AppError; attempt: number; attempts: number; delayMs: number }
  /** The item waits for someone to choose from `offer` (or for `deadline`); the next item runs meanwhile. */
  | { type: "choosing"; item: Item; offer: ChoiceOffer; deadline: number }
  /** The item was chosen for (`timedOut`: nobody did in time, the default goes) and is back in line. */
  | { type: "chosen"; item: Item; choice: Choice; timedOut: boolean }
  /** Every file reached the chat. */
  | { type: "delivered"; item: Item; bytes: number; files: number }
  /** The item ended without an upload (a page whose files were queued as items of their own). */
  | { type: "done"; item: Item; summary: DoneSummary }
  /** The item failed for good. */
  | { type: "failed"; item: Item; error: AppError }
  /**
   * The item was stopped: cancelled, paused, held by a pause of the whole queue, or interrupted by
   * shutdown. `wasRunning` tells a stop of the running transfer from one of a waiting item.
   */
  | { type: "stopped"; item: Item; reason: StopReason; wasRunning: boolean; waiting: number }
  /** A paused item went back in line. */
  | { type: "resumed"; item: Item; position: number; queuePaused: boolean; waiting: number }
  /**
   * At start, before anything runs: the queue is as a previous process left it, the items it
   * interrupted put back in line or failed (`settled`: those were announced on their own). A
   * presenter brings what it showed up to date.
   */
  | { type: "recovered"; queuePaused: boolean; waiting: number; settled: number[] };

export type QueueEventType = QueueEvent["type"];
/** The events about one item (all but `recovered`). */
export type ItemEvent = Exclude<QueueEvent, { type: "recovered" }>;
export type QueueEventOf<T extends QueueEventType> = Extract<QueueEvent, { type: T }>;

/**
 * The queue's one event stream. Listeners run synchronously, in the order they subscribed; one
 * that throws is logged and the others still hear the event: a presenter's bug never reaches the
 * transfer that emitted it.
 */
export class QueueEvents {
  private readonly listeners = new Set<(event: QueueEvent) => unknown>();

  constructor(private readonly logger?: Logger) {}

  /**
   * Every event; returns the unsubscribe. A listener may return a promise: `emitAndWait` waits
   * for it (a notice that must reach the chat before the files do).
   */
  onAny(listener: (event: QueueEvent) => unknown): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events of one type; returns the unsubscribe. */
  on<T extends QueueEventType>(type: T, listener: (event: QueueEventOf<T>) => unknown): () => void {
    return this.onAny((event) => (event.type === type ? listener(event as QueueEventOf<T>) : undefined));
  }

  /** Hands the event to every listener now; what one returns is not waited for (progress goes through here often). */
  emit(event: QueueEvent): void {
    this.call(event);
  }

  /** Emits, then waits for what the listeners returned; never rejects (a failure is logged). */
  async emitAndWait(event: QueueEvent): Promise<void> {
    await Promise.all(this.call(event));
  }

  /** Runs each listener; the promises they returned, each already caught and logged. */
  private call(event: QueueEvent): Promise<void>[] {
    const waits: Promise<void>[] = [];
    for (const listener of [...this.listeners]) {
      try {
        const result = listener(event);
        if (result instanceof Promise) waits.push(result.then(() => undefined, (error: unknown) => this.failed(event, error)));
      } catch (error) {
        this.failed(event, error);
      }
    }
    return waits;
  }

  private failed(event: QueueEvent, error: unknown): void {
    this.logger?.error({ event: event.type, itemId: "item" in event ? event.item.id : undefined, err: error instanceof Error ? error.message : String(error) }, "an event listener failed");
  }
}

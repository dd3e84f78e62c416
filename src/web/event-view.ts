import { SpeedMeter } from "../bot/views/progress-view.ts";
import type { ItemEvent, TransferState } from "../queue/events.ts";
import { errorFailure, itemView } from "./api-view.ts";

/**
 * The engine's events as the web shows them (`GET /api/events`): each with its type, the chat
 * and item it is about, the item as the API shows it, and what the event itself says, the
 * running transfer with its speed and ETA measured here. Data only, like the events.
 */
export type EventView = { type: ItemEvent["type"]; chatId: number; itemId: number } & Record<string, unknown>;

/** The transfer as the page shows it: the worker's state, with a speed and an ETA. */
function transferView(transfer: TransferState, speed: number | null) {
  const left = transfer.totalBytes !== null ? transfer.totalBytes - transfer.bytesDone : null;
  return {
    title: transfer.title,
    phase: transfer.phase,
    bytesDone: transfer.bytesDone,
    totalBytes: transfer.totalBytes,
    ...(transfer.stage ? { stage: transfer.stage } : {}),
    attempt: transfer.attempt,
    attempts: transfer.attempts,
    waiting: transfer.waiting,
    speed,
    etaSeconds: speed && left !== null && left >= 0 ? Math.round(left / speed) : null,
  };
}

export function eventView(event: ItemEvent, speed: number | null = null): EventView {
  const base = { type: event.type, chatId: event.item.chatId, itemId: event.item.id, item: itemView(event.item) };
  switch (event.type) {
    case "started":
    case "progress":
      return { ...base, transfer: transferView(event.transfer, speed) };
    case "notice":
      return { ...base, notice: event.notice };
    case "retrying":
      return { ...base, error: errorFailure(event.error), attempt: event.attempt, attempts: event.attempts, delayMs: event.delayMs };
    case "choosing":
      return { ...base, offer: event.offer, deadline: event.deadline };
    case "chosen":
      return { ...base, choice: event.choice, timedOut: event.timedOut };
    case "delivered":
      return { ...base, bytes: event.bytes, files: event.files };
    case "done":
      return { ...base, summary: event.summary };
    case "failed":
      return { ...base, error: errorFailure(event.error) };
    case "stopped":
      return { ...base, reason: event.reason, wasRunning: event.wasRunning, waiting: event.waiting };
    case "resumed":
      return { ...base, position: event.position, queuePaused: event.queuePaused, waiting: event.waiting };
  }
}

/** The speed of each running transfer, from its progress events: a new attempt or phase starts it over. */
export class TransferSpeeds {
  private readonly meters = new Map<number, { phase: string; meter: SpeedMeter }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Takes the event in; the item's speed now (bytes a second), null when not known yet. */
  see(event: ItemEvent): number | null {
    if (event.type !== "started" && event.type !== "progress") {
      this.meters.delete(event.item.id);
      return null;
    }
    let entry = this.meters.get(event.item.id);
    if (!entry || event.type === "started" || entry.phase !== event.transfer.phase) {
      entry = { phase: event.transfer.phase, meter: new SpeedMeter() };
      this.meters.set(event.item.id, entry);
    }
    entry.meter.add(this.now(), event.transfer.bytesDone);
    return entry.meter.speed();
  }
}

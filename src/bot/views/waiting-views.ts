import type { Item } from "../../items/item.ts";
import type { StopReason } from "../../queue/events.ts";
import type { ProgressState } from "./progress-view.ts";

/**
 * What an item's progress message shows while it does not run: waiting, paused, held by the
 * paused queue, back after a restart or a resume. Pure: each is a `ProgressState` for
 * `renderProgress`. `admin` is whether the chat's /resume resumes the whole queue.
 */

export function queuePausedLine(admin: boolean): string {
  return admin ? "The whole queue is paused: /resume continues." : "The whole queue is paused by the admin chat: this continues once it resumes.";
}

/** A waiting item as its progress message shows it. */
export function waitingView(item: Item, waiting: number): ProgressState {
  return {
    itemId: item.id,
    title: item.title,
    phase: item.downloaded ? "uploading" : item.bytesDone > 0 ? "downloading" : "starting",
    bytesDone: item.bytesDone,
    totalBytes: item.sizeBytes,
    speed: null,
    waiting,
  };
}

/** A paused or held item: where it stopped (a running one) or where it waited. */
export function stoppedView(item: Item, stop: { reason: Exclude<StopReason, "cancel" | "shutdown">; wasRunning: boolean; waiting: number }, admin: boolean): ProgressState {
  if (!stop.wasRunning) return { ...waitingView(item, stop.waiting), paused: true };
  return {
    itemId: item.id,
    title: item.title,
    phase: item.downloaded ? "uploading" : "downloading",
    bytesDone: item.bytesDone,
    totalBytes: item.sizeBytes,
    speed: null,
    waiting: stop.waiting,
    paused: true,
    // An upload cannot continue half-way: say so rather than show a full bar.
    ...(item.downloaded ? { note: "Downloaded; the upload starts again on resume." } : {}),
    ...(stop.reason === "hold" ? { details: [queuePausedLine(admin)] } : {}),
  };
}

/** An item a restart cut off mid-run: it continues when its turn comes. */
export function restartedView(item: Item, where: { queuePaused: boolean; waiting: number }, admin: boolean): ProgressState {
  return {
    ...waitingView(item, where.waiting),
    queued: true,
    note: "The bot restarted: this continues from where it stopped when its turn comes.",
    ...(where.queuePaused ? { details: [queuePausedLine(admin)] } : {}),
  };
}

/** A paused item back in line. */
export function resumedView(item: Item, where: { position: number; queuePaused: boolean; waiting: number }, admin: boolean): ProgressState {
  const note = where.queuePaused
    ? `Resumed: position ${where.position} in the queue; the whole queue is paused (${admin ? "/resume continues" : "by the admin chat"}).`
    : `Resumed: position ${where.position} in the queue.`;
  return { ...waitingView(item, where.waiting), queued: true, note };
}

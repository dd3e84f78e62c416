import type { Item, PriorityName } from "../items/item.ts";
import type { ControlOutcome } from "../queue/control-outcomes.ts";
import type { QueueControl } from "../queue/queue-control.ts";
import { type ApiItem, itemView } from "./api-view.ts";
import { HttpFailure, notFound } from "./http-errors.ts";

/** What can be done to one item, as the chat's buttons and commands do it. */
export const ACTIONS = ["pause", "resume", "cancel", "retry"] as const;
export type Action = (typeof ACTIONS)[number];

/** Why an action could not be done, in words (the `why` stays as data beside it). */
const WHY: Record<Exclude<Extract<ControlOutcome, { ok: false }>["why"], "not-found">, string> = {
  finished: "it has finished (delivered, failed or cancelled)",
  "already-paused": "it is paused already",
  "not-paused": "it is not paused",
  "in-queue": "it is in the queue already",
  delivered: "it was delivered; add its link again to get it again",
  busy: "it kept changing while this was tried; try again",
};

/** Runs one action on an item of the chat, through QueueControl as a command in the chat does. */
export function runAction(control: QueueControl, chatId: number, itemId: number, action: Action | "priority", priority?: PriorityName): Promise<ControlOutcome> {
  switch (action) {
    case "pause":
      return control.pause(itemId, chatId);
    case "resume":
      return control.resume(itemId, chatId);
    case "cancel":
      return control.cancel(itemId, chatId);
    case "retry":
      return control.retry(itemId, chatId);
    case "priority":
      return control.prioritise(itemId, chatId, priority ?? "normal");
  }
}

export interface Done {
  ok: true;
  did: Extract<ControlOutcome, { ok: true }>["did"];
  item: ApiItem;
}

/**
 * What an outcome answers: what was done, or the failure (404 for an item the chat does not
 * have, whoever's it may be; 409 with `why` for one that cannot do that now).
 */
export function outcomeAnswer(outcome: ControlOutcome): Done | HttpFailure {
  if (outcome.ok) return { ok: true, did: outcome.did, item: itemView(outcome.item) };
  if (outcome.why === "not-found") return notFound();
  const open = outcome.open ? { openItemId: outcome.open.id } : {};
  return new HttpFailure(409, "CONFLICT", `#${outcome.item?.id ?? ""}: ${WHY[outcome.why]}`, { why: outcome.why, ...open });
}

/** Whether an item has a place in line: it runs, or waits its turn (not paused, choosing or finished). */
export function hasPlace(item: Pick<Item, "status">): boolean {
  return item.status === "queued" || item.status === "downloading" || item.status === "uploading";
}

/** The place of an item as /queue shows it: 1 while it runs, its place in line, null when not in line. */
export async function positionOf(control: QueueControl, item: Item): Promise<number | null> {
  return hasPlace(item) ? control.position(item) : null;
}

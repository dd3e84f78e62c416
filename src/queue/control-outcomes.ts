import type { Item, ItemStatus } from "../items/item.ts";

/** What queue control answers: the outcome of each command, for the chat side to present. */

/** What a /pause without an id did. */
export type PauseOutcome =
  /** An admin chat paused the whole queue (`heldItemId`: the running item put back in line). */
  | { scope: "queue"; changed: boolean; heldItemId?: number }
  /** Another chat paused its own items (`stoppedItemId`: its running item, stopped). */
  | { scope: "chat"; paused: Item[]; stoppedItemId?: number };

/** What a /resume without an id did. */
export type ResumeOutcome = { scope: "queue"; changed: boolean } | { scope: "chat"; resumed: Item[] };

export type ControlOutcome =
  | { ok: true; item: Item; did: "paused" | "resumed" | "cancelled" | "requeued" | "retry-now" | "priority" }
  | {
      ok: false;
      item?: Item;
      why: "not-found" | "finished" | "already-paused" | "not-paused" | "in-queue" | "delivered" | "busy";
      /** For a refused /retry: the item that has the same URL open now. */
      open?: Item;
    };

export interface StatusInfo {
  counts: Partial<Record<ItemStatus, number>>;
  queuePaused: boolean;
  active?: Item;
  /** The running item belongs to another chat (shown without its name). */
  activeElsewhere: boolean;
  /** False when this chat's /pause and /resume act on its own items only (not an admin chat). */
  admin?: boolean;
  freeBytes: number | null;
  /** Down to the reserve kept for the database: nothing is downloaded until space is freed. */
  diskFull: boolean;
  /** False when yt-dlp is not installed. */
  ytDlp?: boolean;
  /** yt-dlp's version (a release date), once known. */
  ytDlpVersion?: string;
}

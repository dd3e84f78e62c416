import { choose, setChoiceDraft } from "../db/choice-repository.ts";
import type { Db } from "../db/database.ts";
import { findItem } from "../db/item-repository.ts";
import { type Choice, entriesChoice, initialDraft, toggleFile, videoIndices } from "../items/choice.ts";
import type { Item } from "../items/item.ts";
import type { QueueEvents } from "./events.ts";

export interface ChoiceControlDeps {
  db: Db;
  events: QueueEvents;
  /** Looks at the queue again: a chosen item is back in line. */
  notify: () => void;
  now?: () => number;
}

/** A change to the files picked so far. */
export type FilesDraftChange = { toggle: number } | { all: true } | { none: true } | { videos: true };

/**
 * What a chat (or, later, the web side acting as one) does to an item that waits for a choice:
 * changes the draft of picked files, and chooses. Only the item's own chat reaches it; once it no
 * longer waits (chosen, timed out, cancelled) every call changes nothing and says so.
 */
export class ChoiceControl {
  private readonly now: () => number;

  constructor(private readonly deps: ChoiceControlDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The item, when it waits for a choice in this chat. */
  async waiting(itemId: number, chatId: number): Promise<Item | undefined> {
    const item = await findItem(this.deps.db, itemId);
    return item && item.chatId === chatId && item.status === "choosing" && item.choiceOffer ? item : undefined;
  }

  /** The files picked so far: the draft, or every file that can be picked before any change. */
  picked(item: Item): number[] {
    if (item.choice?.kind === "files") return item.choice.indices;
    return item.choiceOffer ? initialDraft(item.choiceOffer) : [];
  }

  /** Changes the draft of a torrent's files; the item as it is now, or undefined when it no longer waits. */
  async draftFiles(itemId: number, chatId: number, change: FilesDraftChange): Promise<Item | undefined> {
    const item = await this.waiting(itemId, chatId);
    if (!item || item.choiceOffer?.kind !== "files") return undefined;
    const offer = item.choiceOffer;
    const indices =
      "toggle" in change
        ? toggleFile(offer, this.picked(item), change.toggle)
        : "all" in change
          ? initialDraft(offer)
          : "videos" in change
            ? videoIndices(offer)
            : [];
    const draft: Choice = { kind: "files", indices };
    if (!(await setChoiceDraft(this.deps.db, itemId, chatId, draft, this.now()))) return undefined;
    return { ...item, choice: draft };
  }

  /**
   * Chooses from a page's videos: one (by its index) or all; undefined when the item no longer
   * waits or the offer has no such video.
   */
  async pickEntries(itemId: number, chatId: number, which: number | "all"): Promise<{ item: Item } | undefined> {
    const item = await this.waiting(itemId, chatId);
    if (item?.choiceOffer?.kind !== "entries") return undefined;
    const choice = entriesChoice(item.choiceOffer, which);
    if (!choice) return undefined;
    const result = await this.start(itemId, chatId, choice);
    return result && "item" in result ? result : undefined;
  }

  /**
   * Chooses: `choice`, or for a torrent the files picked so far. Undefined when the item no longer
   * waits; `nothing` when no file is picked (nothing would be downloaded).
   */
  async start(itemId: number, chatId: number, choice?: Choice): Promise<{ item: Item } | { nothing: true } | undefined> {
    const item = await this.waiting(itemId, chatId);
    if (!item) return undefined;
    const chosen: Choice = choice ?? { kind: "files", indices: this.picked(item) };
    if (chosen.kind === "files" && chosen.indices.length === 0) return { nothing: true };
    const queued = await choose(this.deps.db, item, chosen, this.now());
    if (!queued) return undefined;
    this.deps.events.emit({ type: "chosen", item: queued, choice: chosen, timedOut: false });
    this.deps.notify();
    return { item: queued };
  }
}

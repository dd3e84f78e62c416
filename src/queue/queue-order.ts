import { type Item, isActive } from "../items/item.ts";

/** The whole queue in the order the worker takes it, for /queue. */
export interface QueueEntry {
  item: Item;
  /** 1-based place in the whole queue (the running item is 1); null for paused items. */
  position: number | null;
  /** The running item. */
  active: boolean;
}

/**
 * The whole queue in the order the worker will take it: the running item, then waiting items by
 * priority (higher first) and age (older first), then the paused ones. Pure.
 */
export function orderQueue(open: readonly Item[], activeId: number | undefined): QueueEntry[] {
  const running = open.filter((i) => i.id === activeId || isActive(i.status));
  const waiting = open.filter((i) => i.status === "queued" && i.id !== activeId).sort((a, b) => b.priority - a.priority || a.id - b.id);
  const paused = open.filter((i) => i.status === "paused" && i.id !== activeId).sort((a, b) => a.id - b.id);
  let position = 0;
  return [
    ...running.map((item) => ({ item, position: ++position, active: true })),
    ...waiting.map((item) => ({ item, position: ++position, active: false })),
    ...paused.map((item) => ({ item, position: null, active: false })),
  ];
}

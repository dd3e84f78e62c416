import type { Wants } from "../items/item.ts";

/**
 * `items.wants` and `intake_requests.wants` hold a `Wants` as JSON (migration 014), always in one
 * form: only the wishes made, in a fixed order, `{}` for none. Equal wishes are then equal text,
 * which the unique index of open URLs compares. Pure.
 */
export function wantsToColumn(wants: Wants): string {
  return JSON.stringify({ ...(wants.audioOnly ? { audioOnly: true } : {}) });
}

/** What a row says was wished; anything this version does not know (a newer one's field) is left out. */
export function wantsFromColumn(column: string): Wants {
  try {
    const parsed: unknown = JSON.parse(column);
    if (typeof parsed === "object" && parsed !== null && (parsed as { audioOnly?: unknown }).audioOnly === true) return { audioOnly: true };
  } catch {
    // Not JSON: no wish this version can read.
  }
  return {};
}

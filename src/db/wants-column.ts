import type { Wants } from "../items/item.ts";

/**
 * `items.wants` and `intake_requests.wants` hold a `Wants` as JSON (migration 014), always in one
 * form: only the wishes made, in a fixed order, `{}` for none. Equal wishes are then equal text,
 * which the unique index of open URLs compares. Pure.
 */
export function wantsToColumn(wants: Wants): string {
  return JSON.stringify({
    ...(wants.audioOnly ? { audioOnly: true } : {}),
    ...(wants.maxHeight && Number.isSafeInteger(wants.maxHeight) && wants.maxHeight > 0 ? { maxHeight: wants.maxHeight } : {}),
    ...(wants.allFiles ? { allFiles: true } : {}),
  });
}

/** What a row says was wished; anything this version does not know (a newer one's field) is left out. */
export function wantsFromColumn(column: string): Wants {
  try {
    const parsed = JSON.parse(column) as { audioOnly?: unknown; maxHeight?: unknown; allFiles?: unknown } | null;
    if (typeof parsed === "object" && parsed !== null) {
      return {
        ...(parsed.audioOnly === true ? { audioOnly: true } : {}),
        ...(typeof parsed.maxHeight === "number" && Number.isSafeInteger(parsed.maxHeight) && parsed.maxHeight > 0 ? { maxHeight: parsed.maxHeight } : {}),
        ...(parsed.allFiles === true ? { allFiles: true } : {}),
      };
    }
  } catch {
    // Not JSON: no wish this version can read.
  }
  return {};
}

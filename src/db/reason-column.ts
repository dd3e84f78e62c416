import type { ErrorReason } from "../errors.ts";

/**
 * `items.last_error` holds an ErrorReason as JSON (migration 011). What is not one (a row written
 * as text by a version before it, or by one that went back to it) is read as that text, so the
 * chat still shows what it said.
 */
export function reasonFromColumn(column: string | null): ErrorReason | null {
  if (column === null) return null;
  try {
    const parsed: unknown = JSON.parse(column);
    if (typeof parsed === "object" && parsed !== null && typeof (parsed as { kind?: unknown }).kind === "string") return parsed as ErrorReason;
  } catch {
    // Not JSON: text from before reasons.
  }
  return { kind: "legacy", text: column };
}

export function reasonToColumn(reason: ErrorReason | null): string | null {
  return reason === null ? null : JSON.stringify(reason);
}

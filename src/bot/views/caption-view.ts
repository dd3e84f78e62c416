import type { ItemFile } from "../../items/item.ts";
import { CAPTION_LIMIT, truncate } from "../../text/format.ts";

/**
 * The caption a delivered file goes up with: its own (a torrent file's path), then, for a part,
 * which part it is, and on a byte split's first part how to join them. Pure.
 */
export function fileCaption(file: Pick<ItemFile, "name" | "caption" | "partOf" | "partIndex" | "joinAs">): string | undefined {
  const lines = file.caption ? [file.caption] : [];
  if (file.partIndex !== null && file.partOf !== null) {
    const join = file.joinAs
      ? `. Join the ${file.partOf} parts with: cat "${file.joinAs}".0* > "${file.joinAs}" (on Windows, 7-Zip opens ${file.name})`
      : "";
    lines.push(`Part ${file.partIndex} of ${file.partOf}${join}`);
  }
  return lines.length ? lines.join("\n") : undefined;
}

/** A send's `caption` field: the text cut to Telegram's limit, or nothing. Pure. */
export function captionField(text: string | undefined): { caption?: string } {
  return text ? { caption: truncate(text, CAPTION_LIMIT) } : {};
}

import type { SourceNotice } from "../../sources/source.ts";
import { escapeHtml, formatBytes, listFilesWithSizes, truncate } from "../../text/format.ts";

/** A handler's notice about an item, as the chat message that replies to its request. HTML. Pure. */
export function renderNotice(notice: SourceNotice): string {
  const lines: string[] = [];
  if (notice.tooLarge.length > 0) {
    const n = notice.tooLarge.length;
    lines.push(`Skipping ${n === 1 ? "1 file" : `${n} files`} over the ${escapeHtml(formatBytes(notice.limitBytes))} limit: ${escapeHtml(listFilesWithSizes(notice.tooLarge))}.`);
  }
  if (notice.empty.length > 0) {
    const n = notice.empty.length;
    lines.push(`Skipping ${n === 1 ? "1 empty file" : `${n} empty files`}: ${escapeHtml(listFilesWithSizes(notice.empty))}.`);
  }
  return [`<b>${escapeHtml(truncate(notice.title, 200))}</b>`, ...lines].join("\n");
}

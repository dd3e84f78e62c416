import path from "node:path";
import { DownloadError } from "../errors.ts";
import type { DeliverableFile } from "../sources/source.ts";

export interface PartPolicy {
  /** Largest single upload (`uploadLimitBytes`). */
  limit: number;
  /** `splitLargeFiles`: split a file over the limit, or refuse it. */
  split: boolean;
}

/**
 * What goes up for the downloaded files: each file at most `limit` bytes as it is, a bigger one
 * as byte parts `name.001`, `name.002`, ... (ranges of the file on disk: nothing is copied), the
 * first part naming what they join into. Pure.
 *
 * @example
 * uploadParts([{ path: "/d/1/big.iso", name: "big.iso", size: 120 }], { limit: 50, split: true })
 * // → big.iso.001 (0-49), big.iso.002 (50-99), big.iso.003 (100-119)
 */
export function uploadParts(files: readonly DeliverableFile[], policy: PartPolicy): DeliverableFile[] {
  const out: DeliverableFile[] = [];
  for (const file of files) {
    if (file.size <= policy.limit) {
      out.push(file);
      continue;
    }
    if (!policy.split) throw overUploadLimitError(file.size, policy.limit);
    const count = Math.ceil(file.size / policy.limit);
    const digits = Math.max(3, String(count).length);
    const base = path.basename(file.name);
    for (let i = 0; i < count; i++) {
      const offset = (file.offset ?? 0) + i * policy.limit;
      const size = Math.min(policy.limit, file.size - i * policy.limit);
      const name = `${base}.${String(i + 1).padStart(digits, "0")}`;
      out.push({
        path: file.path,
        name,
        size,
        offset,
        partOf: count,
        partIndex: i + 1,
        // The first part's caption says how to join them (worded by the chat side).
        ...(i === 0 ? { joinAs: base } : {}),
        ...(file.caption ? { caption: file.caption } : {}),
      });
    }
  }
  return out;
}

export function overUploadLimitError(size: number, limit: number): DownloadError {
  return new DownloadError("TOO_LARGE", `${size} bytes is over the upload limit of ${limit}`, {
    reason: { kind: "overUploadLimit", size, limit },
  });
}

import type { ItemFile } from "../items/item.ts";

/** Most files Telegram takes in one album. */
export const ALBUM_SIZE = 10;

/** Files that go up in one call: one file, or an album of parts. */
export interface UploadBatch {
  /** Where its first file is among the item's files (0-based). */
  index: number;
  files: ItemFile[];
  bytes: number;
  /**
   * Files on disk that no file outside this batch reads from (a cut part, say): removed once the
   * batch went up. Byte parts that share one file on disk keep it.
   */
  discard: string[];
}

/**
 * What is left to upload of an item's files, in order, as batches: parts of a big file go up
 * together as albums of up to ten (when `albums`), anything else one by one; files already
 * uploaded are skipped. Pure.
 */
export function planUploads(files: readonly ItemFile[], options: { albums: boolean }): UploadBatch[] {
  const batches: UploadBatch[] = [];
  for (let index = 0; index < files.length; ) {
    const file = files[index]!;
    if (file.uploadedAt !== null) {
      index++;
      continue;
    }
    const group = [file];
    while (
      options.albums &&
      file.partOf !== null &&
      group.length < ALBUM_SIZE &&
      files[index + group.length]?.partOf === file.partOf &&
      files[index + group.length]?.uploadedAt === null
    ) {
      group.push(files[index + group.length]!);
    }
    const discard = group
      .filter((f) => !files.some((other) => !group.includes(other) && other.path === f.path) && group.filter((g) => g.path === f.path).length === 1)
      .map((f) => f.path);
    batches.push({ index, files: group, bytes: group.reduce((sum, f) => sum + f.sizeBytes, 0), discard });
    index += group.length;
  }
  return batches;
}

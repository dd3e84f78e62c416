import type { DeliverableFile, ItemFile } from "../items/item.ts";
import { type Db, transact } from "./database.ts";
import type { ItemFileRow } from "./schema.ts";

/**
 * The files an item delivers (the item_files table): recorded once the download is on disk, each
 * marked as soon as Telegram has it, so none goes up twice.
 */

function toItemFile(row: ItemFileRow): ItemFile {
  return {
    id: row.id,
    itemId: row.item_id,
    position: row.position,
    path: row.path,
    name: row.name,
    sizeBytes: row.size_bytes,
    offset: row.byte_offset,
    partOf: row.part_of,
    partIndex: row.part_index,
    joinAs: row.join_as,
    caption: row.caption,
    fileId: row.file_id,
    uploadKind: row.upload_kind,
    uploadedAt: row.uploaded_at,
  };
}

/** A file to deliver, as the download left it on disk. */
export type NewItemFile = DeliverableFile;

/**
 * Records the files an item delivers (inside the caller's transaction). Rows already there for
 * the same bytes in the same order (byte parts recorded while their file downloaded) are kept with
 * what of them went up, and take the new plan's wording (part count, how to join, caption);
 * anything else is replaced. `pending`: the file is still downloading.
 */
export async function replaceItemFiles(trx: Db, itemId: number, files: readonly NewItemFile[], options: { pending?: boolean } = {}): Promise<void> {
  const pending = options.pending ? 1 : 0;
  const existing = await trx.selectFrom("item_files").selectAll().where("item_id", "=", itemId).orderBy("position").execute();
  if (existing.length > 0 && sameBytes(existing, files)) {
    await trx.updateTable("item_files").set({ pending }).where("item_id", "=", itemId).execute();
    for (const [i, row] of existing.entries()) {
      const worded = wording(files[i]!);
      if (row.part_of !== worded.part_of || row.join_as !== worded.join_as || row.caption !== worded.caption) {
        await trx.updateTable("item_files").set(worded).where("id", "=", row.id).execute();
      }
    }
    return;
  }
  await trx.deleteFrom("item_files").where("item_id", "=", itemId).execute();
  if (files.length === 0) return;
  await trx
    .insertInto("item_files")
    .values(
      files.map((f, position) => ({
        item_id: itemId,
        position,
        path: f.path,
        name: f.name,
        size_bytes: f.size,
        byte_offset: f.offset ?? 0,
        part_index: f.partIndex ?? null,
        ...wording(f),
        pending,
      })),
    )
    .execute();
}

/** How a file is presented in the chat, as opposed to which bytes it is. */
function wording(f: NewItemFile): Pick<ItemFileRow, "part_of" | "join_as" | "caption"> {
  return { part_of: f.partOf ?? null, join_as: f.joinAs ?? null, caption: f.caption ?? null };
}

/** The same files cut at the same places: what went up of the rows is still true of the new plan. */
function sameBytes(rows: readonly ItemFileRow[], files: readonly NewItemFile[]): boolean {
  return (
    rows.length === files.length &&
    rows.every((r, i) => {
      const f = files[i]!;
      return r.path === f.path && r.name === f.name && r.size_bytes === f.size && r.byte_offset === (f.offset ?? 0) && r.part_index === (f.partIndex ?? null);
    })
  );
}

/**
 * Byte parts of a file still downloading, recorded before it is whole so they can go up as their
 * ranges arrive (and are not sent again after a restart). The item stays "not downloaded".
 * `fresh`: the file is written from its first byte again, so parts sent before are sent again.
 */
export async function recordPendingParts(db: Db, itemId: number, parts: readonly NewItemFile[]): Promise<void> {
  await transact(db, (trx) => replaceItemFiles(trx, itemId, parts, { pending: true }));
}

/**
 * The item's file is written again from its first byte (the server's file changed, say): what an
 * earlier attempt recorded of it, and sent, is of other bytes. Forgotten whether or not this
 * attempt sends parts while it downloads: kept, same-named parts would count as already sent.
 */
export async function clearItemFiles(db: Db, itemId: number): Promise<void> {
  await db.deleteFrom("item_files").where("item_id", "=", itemId).execute();
}

export async function listItemFiles(db: Db, itemId: number): Promise<ItemFile[]> {
  const rows = await db.selectFrom("item_files").selectAll().where("item_id", "=", itemId).orderBy("position").execute();
  return rows.map(toItemFile);
}

/** One file reached the chat: recorded at once, so it is never uploaded twice. */
export async function markFileUploaded(db: Db, fileRowId: number, fileId: string | null, kind: string, now: number): Promise<void> {
  await db
    .updateTable("item_files")
    .set({ file_id: fileId, upload_kind: kind, uploaded_at: now })
    .where("id", "=", fileRowId)
    .execute();
}

/**
 * The files of a downloaded item vanished from disk: forget them, so the next attempt downloads
 * again (the new download's files replace every record).
 */
export async function forgetFiles(db: Db, id: number, now: number): Promise<void> {
  await transact(db, async (trx) => {
    await trx.deleteFrom("item_files").where("item_id", "=", id).execute();
    await trx.updateTable("items").set({ bytes_done: 0, updated_at: now }).where("id", "=", id).execute();
  });
}

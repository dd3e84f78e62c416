import { promises as fs } from "node:fs";
import { forgetFiles, listItemFiles, markFileUploaded } from "../db/item-repository.ts";
import { DownloadError } from "../errors.ts";
import type { Item, ItemFile } from "../items/item.ts";
import type { ActiveItem } from "./active-item.ts";
import { planUploads } from "./delivery-plan.ts";
import type { TransferState } from "./events.ts";
import type { WorkerDeps } from "./worker-deps.ts";

interface DeliverOptions {
  /** Waits until a batch may start: its parts' bytes are arriving (byte parts of a file still downloading). */
  batchReady?(files: ItemFile[]): Promise<void>;
  /**
   * Waits until bytes [from, to) of the file are on disk; given, the upload's body reads each chunk
   * once it is (the transfer's `ready`), and the files are not checked for on disk before.
   */
  ready?(from: number, to: number): Promise<void>;
  /** A batch went up: `files` of the item's `of` files are in the chat. */
  sent?(files: number, of: number): void;
}

/**
 * Uploads the files of `active`'s item not uploaded yet, in the batches `planUploads` makes, each
 * recorded as soon as Telegram has it (every file of an album together), so none goes up twice.
 * A file that vanished from disk makes the next attempt download again.
 */
export async function deliver(
  deps: Pick<WorkerDeps, "db" | "upload" | "uploadGroup">,
  active: Pick<ActiveItem, "item" | "signal" | "awaitingAnswer" | "answered">,
  state: TransferState,
  changed: () => void,
  now: () => number,
  options: DeliverOptions = {},
): Promise<{ bytes: number; files: number }> {
  const { db, uploadGroup } = deps;
  const item: Item = active.item;
  const signal = active.signal;
  const files = await listItemFiles(db, item.id);
  const total = files.reduce((sum, f) => sum + f.sizeBytes, 0);
  let base = files.filter((f) => f.uploadedAt !== null).reduce((sum, f) => sum + f.sizeBytes, 0);
  state.totalBytes = total;
  state.bytesDone = base;
  changed();
  for (const batch of planUploads(files, { albums: uploadGroup !== undefined })) {
    const { index, files: group, bytes: size } = batch;
    const file = group[0]!;
    // Several files (a torrent's, the parts of a big one): say which one is going up.
    if (files.length > 1) {
      state.stage = { kind: "uploading-files", from: index + 1, to: index + group.length, of: files.length, name: file.name };
    }
    await options.batchReady?.(group);
    // A file still downloading is the download's to keep (or start over): not checked here.
    for (const f of options.ready ? [] : group) {
      try {
        await fs.access(f.path);
      } catch {
        await forgetFiles(db, item.id, now());
        throw new DownloadError("FILE_MISSING", `the downloaded file ${f.name} is missing from disk`, {
          retryable: true,
          reason: { kind: "fileMissing" },
        });
      }
    }
    let answered!: () => void;
    const answer = new Promise<void>((r) => (answered = r));
    const onBytes = (sent: number) => {
      state.bytesDone = base + Math.min(sent, size);
      if (sent >= size) active.awaitingAnswer(answer);
      changed();
    };
    const transfer = { signal, onBytes, ...(options.ready ? { ready: options.ready } : {}) };
    try {
      const results =
        group.length > 1 && uploadGroup
          ? await uploadGroup(item, group, transfer)
          : [await deps.upload(item, file, transfer)];
      // Recorded at once, every file of an album together: none goes up twice.
      for (const [k, f] of group.entries()) await markFileUploaded(db, f.id, results[k]?.fileId ?? null, results[k]?.kind ?? "document", now());
      // A file of its own (a cut part, say) is not needed once it went up; byte parts share theirs.
      for (const discarded of batch.discard) await fs.rm(discarded, { force: true }).catch(() => {});
    } finally {
      answered();
      active.answered();
    }
    base += size;
    options.sent?.(index + group.length, files.length);
  }
  return { bytes: total, files: files.length };
}

/**
 * The files an item delivers, recorded twice when its parts go up while it downloads: first as
 * pending parts, then as the finished plan. On a real SQLite file with the real migrations.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/database.ts";
import { replaceItemFiles } from "../../src/db/item-file-repository.ts";
import { insertItem, listItemFiles, markFileUploaded, type NewItemFile } from "../../src/db/item-repository.ts";
import { type TestDb, openTestDb } from "../support/test-db.ts";

const MB = 1024 * 1024;
let opened: TestDb;
let db: Db;
let itemId: number;

beforeEach(async () => {
  opened = await openTestDb("dlbot-item-files-");
  db = opened.db;
  const added = await insertItem(db, { chatId: 7, userId: 1, url: "https://x.invalid/big.bin", sourceKind: "direct", title: "big.bin", sizeBytes: 3 * MB }, 1);
  if (!added.inserted) throw new Error("not inserted");
  itemId = added.item.id;
});

afterEach(() => opened.close());

/** Three byte parts of one file, worded as `extra` says. */
function parts(extra: (i: number) => Partial<NewItemFile>): NewItemFile[] {
  return [0, 1, 2].map((i) => ({ path: "/data/1/big.bin", name: `big.bin.00${i + 1}`, size: MB, offset: i * MB, partIndex: i + 1, ...extra(i) }));
}

describe("recording an item's files again", () => {
  it("keeps what went up of the same bytes and takes the new plan's wording", async () => {
    await replaceItemFiles(db, itemId, parts((i) => ({ partOf: 3, ...(i === 0 ? { joinAs: "big.bin", caption: "early" } : {}) })), { pending: true });
    const before = await listItemFiles(db, itemId);
    await markFileUploaded(db, before[0]!.id, "file-1", "document", 5);

    await replaceItemFiles(db, itemId, parts((i) => ({ partOf: 3, ...(i === 0 ? { joinAs: "joined.bin", caption: "final" } : {}) })));
    const rows = await listItemFiles(db, itemId);
    expect(rows.map((r) => r.id)).toEqual(before.map((r) => r.id));
    expect(rows.map((r) => [r.name, r.fileId, r.partOf, r.joinAs, r.caption])).toEqual([
      ["big.bin.001", "file-1", 3, "joined.bin", "final"],
      ["big.bin.002", null, 3, null, null],
      ["big.bin.003", null, 3, null, null],
    ]);
    expect(rows[0]!.uploadedAt).toBe(5);
    const pending = await db.selectFrom("item_files").select("pending").where("item_id", "=", itemId).execute();
    expect(pending.map((r) => r.pending)).toEqual([0, 0, 0]);
  });

  it("starts over when the parts are cut elsewhere: nothing counts as sent", async () => {
    await replaceItemFiles(db, itemId, parts(() => ({ partOf: 3 })), { pending: true });
    const [first] = await listItemFiles(db, itemId);
    await markFileUploaded(db, first!.id, "file-1", "document", 5);

    const halves: NewItemFile[] = [0, 1].map((i) => ({ path: "/data/1/big.bin", name: `big.bin.00${i + 1}`, size: 1.5 * MB, offset: i * 1.5 * MB, partIndex: i + 1, partOf: 2 }));
    await replaceItemFiles(db, itemId, halves);
    const rows = await listItemFiles(db, itemId);
    expect(rows.map((r) => [r.name, r.offset, r.sizeBytes, r.fileId, r.partOf])).toEqual([
      ["big.bin.001", 0, 1.5 * MB, null, 2],
      ["big.bin.002", 1.5 * MB, 1.5 * MB, null, 2],
    ]);
  });
});

import { describe, expect, it } from "vitest";
import type { ItemFile } from "../../src/items/item.ts";
import { planUploads } from "../../src/queue/delivery-plan.ts";

/** A recorded file of item 1; `uploaded` marks it as already in the chat. */
function file(position: number, over: Partial<ItemFile> & { uploaded?: boolean } = {}): ItemFile {
  const { uploaded, ...rest } = over;
  return {
    id: position + 100,
    itemId: 1,
    position,
    path: `/data/downloads/1/f${position}`,
    name: `f${position}`,
    sizeBytes: 10,
    offset: 0,
    partOf: null,
    partIndex: null,
    joinAs: null,
    caption: null,
    fileId: uploaded ? `F${position}` : null,
    uploadKind: uploaded ? "document" : null,
    uploadedAt: uploaded ? 1 : null,
    ...rest,
  };
}

/** `count` byte parts of one file on disk. */
function parts(count: number, from = 0): ItemFile[] {
  return Array.from({ length: count }, (_, k) => file(from + k, { path: "/data/downloads/1/big.mkv", partOf: count, offset: k * 10 }));
}

const shape = (files: readonly ItemFile[], albums = true) =>
  planUploads(files, { albums }).map((b) => ({ index: b.index, positions: b.files.map((f) => f.position), bytes: b.bytes, discard: b.discard }));

describe("planUploads: what goes up in which call", () => {
  it("sends whole files one by one, each removed from disk once it went up", () => {
    expect(shape([file(0), file(1, { sizeBytes: 7 })])).toEqual([
      { index: 0, positions: [0], bytes: 10, discard: ["/data/downloads/1/f0"] },
      { index: 1, positions: [1], bytes: 7, discard: ["/data/downloads/1/f1"] },
    ]);
  });

  it("groups parts of a big file into albums of at most ten, keeping the file they share until the last album", () => {
    const batches = shape(parts(12));
    expect(batches.map((b) => b.positions)).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [10, 11]]);
    expect(batches.map((b) => b.index)).toEqual([0, 10]);
    expect(batches.map((b) => b.bytes)).toEqual([100, 20]);
    // Both albums read from one file: neither may remove it (a part of its own would be).
    expect(batches.map((b) => b.discard)).toEqual([[], []]);
  });

  it("removes a cut part of its own once its album went up", () => {
    const cut = [0, 1, 2].map((k) => file(k, { partOf: 3 }));
    expect(shape(cut)).toEqual([{ index: 0, positions: [0, 1, 2], bytes: 30, discard: cut.map((f) => f.path) }]);
  });

  it("skips what is already uploaded and starts the album at the first part left", () => {
    const files = parts(4).map((f, k) => (k < 2 ? { ...f, uploadedAt: 1, fileId: `F${k}` } : f));
    expect(shape(files)).toEqual([{ index: 2, positions: [2, 3], bytes: 20, discard: [] }]);
    expect(shape([file(0, { uploaded: true }), file(1, { uploaded: true })])).toEqual([]);
  });

  it("sends parts one by one when albums cannot be sent", () => {
    expect(shape(parts(3), false).map((b) => b.positions)).toEqual([[0], [1], [2]]);
  });

  it("does not put a whole file into the album of the parts before it", () => {
    expect(shape([...parts(2), file(2)]).map((b) => b.positions)).toEqual([[0, 1], [2]]);
  });
});

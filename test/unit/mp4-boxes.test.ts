/**
 * The MP4 box walk that decides whether a video is rewritten with its index first (`moovFirst`)
 * and whether a joined stream's index fitted its room (`boxesInOrder`), on files laid out byte by
 * byte: the shapes ffmpeg writes and the ones a hostile or broken file has.
 */
import { readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { moovFirst } from "../../src/media/prepare-upload.ts";
import { boxesInOrder } from "../../src/sources/stream/stream-join.ts";
import { topLevelBoxes } from "../../src/tools/mp4-boxes.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "dlbot-mp4-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A box: a 32-bit length, its type, then `body` bytes. */
function box(type: string, body = 8): Buffer {
  const b = Buffer.alloc(8 + body);
  b.writeUInt32BE(8 + body, 0);
  b.write(type, 4, "latin1");
  return b;
}

/** A box with the 64-bit length form (length field 1, the real length after the type). */
function bigBox(type: string, body = 8): Buffer {
  const b = Buffer.alloc(16 + body);
  b.writeUInt32BE(1, 0);
  b.write(type, 4, "latin1");
  b.writeBigUInt64BE(BigInt(16 + body), 8);
  return b;
}

let n = 0;
async function file(...parts: Buffer[]): Promise<string> {
  const p = path.join(dir, `f${n++}.mp4`);
  await writeFile(p, Buffer.concat(parts));
  return p;
}

async function walk(p: string): Promise<Array<string>> {
  const out: string[] = [];
  for await (const b of topLevelBoxes(p)) out.push(b === "broken" ? "broken" : `${b.type}@${b.start}+${b.length}`);
  return out;
}

describe("topLevelBoxes", () => {
  it("lists the boxes end to end, the 64-bit length form included", async () => {
    const p = await file(box("ftyp", 16), bigBox("moov", 40), box("mdat", 100));
    expect(await walk(p)).toEqual(["ftyp@0+24", "moov@24+56", "mdat@80+108"]);
  });

  it("walks past iTunes-style types and stops after 64 boxes", async () => {
    expect(await walk(await file(box("ftyp"), box("\xa9too"), box("mdat")))).toEqual(["ftyp@0+16", "\xa9too@16+16", "mdat@32+16"]);
    const many = await walk(await file(...Array.from({ length: 70 }, () => box("free", 0))));
    expect(many).toHaveLength(64);
  });

  it("stops at a header that is not a box's, and after a box that runs past the end", async () => {
    expect(await walk(await file(box("ftyp"), Buffer.from([0, 0, 0, 4, 0x6d, 0x6f, 0x6f, 0x76])))).toEqual(["ftyp@0+16", "broken"]);
    expect(await walk(await file(box("ftyp"), box("\u0000\u0001ab")))).toEqual(["ftyp@0+16", "broken"]);
    // A length of 0 ("to the end of the file"): what an ffmpeg killed mid-write leaves.
    const open = box("mdat", 100);
    open.writeUInt32BE(0, 0);
    expect(await walk(await file(box("ftyp"), open))).toEqual(["ftyp@0+16", "broken"]);
    expect(await walk(await file(box("ftyp"), Buffer.from([0, 0, 0])))).toEqual(["ftyp@0+16", "broken"]);
    const cut = box("mdat", 100).subarray(0, 50);
    expect(await walk(await file(box("ftyp"), cut))).toEqual(["ftyp@0+16", "mdat@16+108"]);
  });
});

describe("what the walk decides", () => {
  it("moovFirst: the index before the data, or a file not to touch", async () => {
    expect(await moovFirst(await file(box("ftyp"), box("moov"), box("mdat")))).toBe(true);
    expect(await moovFirst(await file(box("ftyp"), box("mdat"), box("moov")))).toBe(false);
    expect(await moovFirst(await file(box("ftyp"), Buffer.from("garbage!garbage!")))).toBe(true);
    // A box of another program's before the data still counts: the index at the end is moved.
    expect(await moovFirst(await file(box("ftyp"), box("\xa9xyz"), box("mdat"), box("moov")))).toBe(false);
  });

  it("closes the file when a check stops at the first box that decides", async () => {
    const p = await file(box("ftyp"), box("moov"), box("mdat"), box("free"));
    const open = () => readdirSync("/proc/self/fd").length;
    const before = open();
    for (let i = 0; i < 20; i++) expect(await moovFirst(p)).toBe(true);
    expect(open()).toBe(before);
  });

  it("boxesInOrder: the index first and the boxes reaching exactly the last byte", async () => {
    expect(await boxesInOrder(await file(box("ftyp"), box("moov"), box("free"), box("mdat")))).toBe(true);
    expect(await boxesInOrder(await file(box("ftyp"), box("mdat"), box("moov")))).toBe(false);
    expect(await boxesInOrder(await file(box("ftyp"), box("moov"), box("mdat").subarray(0, 12)))).toBe(false);
    expect(await boxesInOrder(await file(box("ftyp"), box("moov"), box("mdat"), Buffer.from([1, 2, 3])))).toBe(false);
    expect(await boxesInOrder(await file(box("ftyp"), box("mdat")))).toBe(false);
  });
});

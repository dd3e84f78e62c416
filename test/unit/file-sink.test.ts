import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileSink } from "../../src/storage/file-sink.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "file-sink-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const chunk = (n: number, fill: number) => Buffer.alloc(n, fill);

describe("FileSink", () => {
  it("writes every chunk in order and counts on close only what reached the file", async () => {
    const file = path.join(dir, "a.bin");
    const sink = new FileSink(file, { flags: "w" });
    const chunks = Array.from({ length: 64 }, (_, i) => chunk(64 * 1024, i));
    for (const c of chunks) await sink.write(c);
    await sink.close();
    expect(sink.written).toBe(64 * 64 * 1024);
    const expected = createHash("sha256").update(Buffer.concat(chunks)).digest("hex");
    expect(createHash("sha256").update(await readFile(file)).digest("hex")).toBe(expected);
  });

  it("writes in place from a position without touching the rest (a part of a parallel download)", async () => {
    const file = path.join(dir, "b.bin");
    await writeFile(file, chunk(30, 0x61));
    const sink = new FileSink(file, { flags: "r+", start: 10 });
    await sink.write(chunk(5, 0x62));
    await sink.close();
    expect((await readFile(file)).toString()).toBe("a".repeat(10) + "b".repeat(5) + "a".repeat(15));
  });

  it("appends after what is there (a resumed single-connection download)", async () => {
    const file = path.join(dir, "c.bin");
    await writeFile(file, "abc");
    const sink = new FileSink(file, { flags: "a" });
    await sink.write(Buffer.from("def"));
    await sink.close();
    expect(await readFile(file, "utf8")).toBe("abcdef");
  });

  it("reports a disk error from write or close instead of losing it", async () => {
    const sink = new FileSink(path.join(dir, "missing", "d.bin"), { flags: "w" });
    await expect(
      (async () => {
        await sink.write(chunk(1024, 1));
        await sink.close();
      })(),
    ).rejects.toMatchObject({ code: "ENOENT" });
    expect(sink.written).toBe(0);
  });
});

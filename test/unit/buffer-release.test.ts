import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";

const MB = 1024 * 1024;

/** The module with a `gc` that records what it was asked (it reads `globalThis.gc` once, as it loads). */
async function withRecordingGc() {
  const asked: string[] = [];
  (globalThis as { gc?: unknown }).gc = (options: { type: string }) => asked.push(options.type);
  vi.resetModules();
  const release = await import("../../src/util/buffer-release.ts");
  return { asked, ...release };
}

afterEach(() => {
  delete (globalThis as { gc?: unknown }).gc;
  vi.resetModules();
});

describe("buffer release", () => {
  it("runs a young collection every 4 MB of Buffers moved", async () => {
    const { asked, buffersPassed } = await withRecordingGc();
    buffersPassed(3 * MB);
    expect(asked).toEqual([]);
    buffersPassed(MB);
    expect(asked).toEqual(["minor"]);
    for (let i = 0; i < 8; i++) buffersPassed(MB);
    expect(asked).toEqual(["minor", "minor", "minor"]);
  });

  it("runs a full collection after an item once 64 MB moved since the last one, and not after small items", async () => {
    const { asked, buffersPassed, releaseAfterItem } = await withRecordingGc();
    buffersPassed(10 * MB);
    releaseAfterItem();
    expect(asked.filter((t) => t === "major")).toEqual([]);
    // Small items add up: the dead chunks they promoted pile up the same way.
    for (let i = 0; i < 6; i++) {
      buffersPassed(10 * MB);
      releaseAfterItem();
    }
    expect(asked.filter((t) => t === "major")).toHaveLength(1);
    releaseAfterItem();
    expect(asked.filter((t) => t === "major")).toHaveLength(1);
  });

  it("counts what a download's file sink writes", async () => {
    const { asked } = await withRecordingGc();
    const { FileSink } = await import("../../src/storage/file-sink.ts");
    const dir = await mkdtemp(path.join(tmpdir(), "dlbot-release-"));
    try {
      const sink = new FileSink(path.join(dir, "a.bin"), { flags: "w" });
      for (let i = 0; i < 8; i++) await sink.write(Buffer.alloc(MB / 2, i));
      await sink.close();
      expect(asked).toEqual(["minor"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("only counts where Node gives no gc", async () => {
    vi.resetModules();
    const { buffersPassed, releaseAfterItem } = await import("../../src/util/buffer-release.ts");
    expect(() => {
      buffersPassed(100 * MB);
      releaseAfterItem();
    }).not.toThrow();
  });
});

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, writeSync, statfsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { listItems } from "../../src/db/item-repository.ts";
import { DISK_RESERVE_BYTES } from "../../src/storage/data-disk.ts";
import { FileServer } from "../support/file-server.ts";
import { CHAT, Harness } from "../support/harness.ts";

/**
 * A real full disk: a small tmpfs mounted as the data directory (tests and CI run as root). Where
 * mounting is impossible, the tests are skipped and say why in their name.
 */
function mountTmpfs(sizeMb: number): { dataDir: string; unmount: () => Promise<void> } {
  const root = mkdtempSync(path.join(tmpdir(), "dlbot-disk-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeMb}m`, "tmpfs", root], { stdio: "pipe" });
  const dataDir = path.join(root, "data");
  mkdirSync(dataDir);
  return {
    dataDir,
    unmount: async () => {
      // Lazily: a file handle the test process still closes must not fail the test.
      execFileSync("umount", ["-l", root], { stdio: "pipe" });
      await rm(root, { recursive: true, force: true });
    },
  };
}


const free = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

/** Writes a file of `bytes` (or until the disk is full), real bytes as a download would. */
function fill(file: string, bytes = Number.POSITIVE_INFINITY): void {
  const fd = openSync(file, "w");
  const chunk = Buffer.alloc(1 << 20, 7);
  try {
    for (let written = 0; written < bytes; written += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - written));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  } finally {
    closeSync(fd);
  }
}

let h: Harness | undefined;
let disk: { dataDir: string; unmount: () => Promise<void> } | undefined;
afterEach(async () => {
  await h?.close().catch(() => {});
  h = undefined;
  await disk?.unmount();
  disk = undefined;
});

// A real tmpfs needs root (CI runs as root): without it these tests fail with the mount error, they never skip.
describe("a full disk", () => {
  it("stops a download of unknown size before the disk is full, deletes its partial file, and goes on answering", async () => {
    disk = mountTmpfs(40);
    h = await Harness.create({ dataDir: disk.dataDir, retryDelaysMs: [60_000] });
    const big = h.files.addFile("/huge.bin", FileServer.randomBytes(64 * 1024 * 1024, 3), { sendLength: false });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${big.url}`);
    const progress = await h.progressMessageId(since);
    const failed = await h.waitForText(progress, /attempt 1 of 2 failed/, since);
    expect(failed).toMatch(/not enough free disk space: the bot stopped with .* free, keeping 16\.0 MB for its database/);

    expect(existsSync(path.join(disk.dataDir, "downloads", "1"))).toBe(false);
    expect(free(disk.dataDir)).toBeGreaterThan(DISK_RESERVE_BYTES);
    expect(await listItems(h.app!.db)).toMatchObject([{ status: "queued", attempts: 1, errorCode: "DISK_FULL" }]);
    const asked = h.api.nextSeq;
    h.send("/status");
    expect(String((await h.reply(asked, CHAT, /Status/)).params.text)).toMatch(/1 queued/);
  });

  it("fails the attempt when the disk fills up mid-download, and succeeds on the retry once space is freed", async () => {
    disk = mountTmpfs(48);
    h = await Harness.create({ dataDir: disk.dataDir, retryDelaysMs: [1000] });
    const file = h.files.addFile("/grow.bin", FileServer.randomBytes(20 * 1024 * 1024, 4), { sendLength: false });
    h.files.throttle("/grow.bin", 10 * 1024 * 1024);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const progress = await h.progressMessageId(since);
    await h.files.waitForBytes("/grow.bin", 5 * 1024 * 1024);
    // Something else on the server takes the space meanwhile.
    const filler = path.join(disk.dataDir, "someone-elses.bin");
    fill(filler, free(disk.dataDir) - 10 * 1024 * 1024);
    await h.waitForText(progress, /attempt 1 of 2 failed: not enough free disk space/, since);
    expect(existsSync(path.join(disk.dataDir, "downloads", "1"))).toBe(false);

    await rm(filler);
    h.files.throttle("/grow.bin", null);
    expect((await h.upload(since)).files[0]!.sha256).toBe(file.sha256);
  });

  it("fails the attempt when the disk fills for three seconds mid-download, and the retry delivers once it is freed, without a restart", async () => {
    disk = mountTmpfs(48);
    // The first retry comes at once, as by default: it must wait for room, not fail on the full disk.
    h = await Harness.create({ dataDir: disk.dataDir, retryDelaysMs: [0, 60_000] });
    const file = h.files.addFile("/burst.bin", FileServer.randomBytes(20 * 1024 * 1024, 6), { sendLength: false });
    h.files.throttle("/burst.bin", 8 * 1024 * 1024);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const progress = await h.progressMessageId(since);
    await h.files.waitForBytes("/burst.bin", 4 * 1024 * 1024);
    // Something else on the server takes the space for three seconds: less than the bot keeps
    // for its database is left, even once the bot deleted what this attempt wrote.
    const filler = path.join(disk.dataDir, "someone-elses.bin");
    const filledAt = Date.now();
    fill(filler, free(disk.dataDir) - 8 * 1024 * 1024);
    await h.waitForText(progress, /attempt 1 of 3 failed: not enough free disk space/, since);
    // Recorded: in line for its retry, not "downloading" with nothing running it.
    expect(await listItems(h.app!.db)).toMatchObject([{ status: "queued", attempts: 1, errorCode: "DISK_FULL" }]);
    await new Promise((r) => setTimeout(r, filledAt + 3000 - Date.now()));
    expect(free(disk.dataDir)).toBeLessThan(DISK_RESERVE_BYTES);
    await rm(filler);
    h.files.throttle("/burst.bin", null);
    expect((await h.upload(since)).files[0]!.sha256).toBe(file.sha256);
    await h.waitForText(progress, /delivered/, since);
    expect(h.uploads()).toHaveLength(1);
    // One failed attempt: none was spent on the disk while it was still full.
    expect(await listItems(h.app!.db)).toMatchObject([{ status: "completed", attempts: 1 }]);
  });

  it("starts on a full disk, says so in /status, tells a /download it cannot store, and works again once space is freed", async () => {
    disk = mountTmpfs(24);
    h = await Harness.create({ dataDir: disk.dataDir });
    await h.start();
    await h.stopApp();
    const filler = path.join(disk.dataDir, "filler.bin");
    fill(filler);

    await h.start();
    let since = h.api.nextSeq;
    h.send("/status");
    expect(String((await h.reply(since, CHAT, /Status/)).params.text)).toMatch(/⚠️ The disk is full: nothing is downloaded until space is freed on the server\./);

    // The room the bot kept went to opening its database; take that too.
    fill(path.join(disk.dataDir, "filler-2.bin"));
    const small = h.files.addFile("/small.bin", FileServer.randomBytes(10_000, 5));
    since = h.api.nextSeq;
    h.send(`/download ${small.url}`);
    const answer = String((await h.reply(since, CHAT)).params.text);
    expect(answer).toBe("✗ The bot's disk is full, so it could not take this request: free some space on the server and send it again.");

    await rm(filler);
    await rm(path.join(disk.dataDir, "filler-2.bin"));
    since = h.api.nextSeq;
    h.send(`/download ${small.url}`);
    expect((await h.upload(since)).files[0]!.sha256).toBe(small.sha256);
  });
});

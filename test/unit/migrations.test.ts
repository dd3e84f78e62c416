import { copyFile, mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { MIGRATIONS_DIR, migrateToLatest, openDatabase } from "../../src/db/database.ts";
import { describeLastError } from "../../src/bot/views/error-view.ts";
import { findDelivered, findItem, listItemFiles, scheduleRetry } from "../../src/db/item-repository.ts";
import { liveMessageOf } from "../../src/db/message-repository.ts";

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/**
 * A new database with the migrations named before `first` applied (what a version before that
 * migration left); `migrateToLatest(db)` then runs the rest.
 */
async function databaseBefore(first: string) {
  dir = await mkdtemp(path.join(tmpdir(), "dlbot-migrate-"));
  const before = path.join(dir, "before");
  await mkdir(before);
  for (const name of (await readdir(MIGRATIONS_DIR)).filter((n) => n < first)) {
    await copyFile(path.join(MIGRATIONS_DIR, name), path.join(before, name));
  }
  const db = openDatabase(path.join(dir, "bot.sqlite"));
  return { db, applied: await migrateToLatest(db, before) };
}

describe("migration 005: delivered files live in item_files only", () => {
  it("moves a delivery an earlier version recorded on the item, and keeps everything else", async () => {
    // The database as the version before 005 left it.
    const { db, applied } = await databaseBefore("2026-11-28");
    try {
      expect(applied).toHaveLength(3);
      const now = 1_800_000_000_000;
      await sql`insert into items (id, chat_id, url, source_kind, title, size_bytes, status, next_attempt_at, bytes_done, downloaded,
          file_id, upload_kind, local_path, created_at, updated_at, finished_at)
        values (1, 7, 'https://x.invalid/old.mp4', 'direct', 'old.mp4', 10, 'completed', ${now}, 10, 1, 'FILE-OLD', 'video', null, ${now}, ${now}, ${now}),
               (2, 7, 'https://x.invalid/two.bin', 'torrent', 'two', 20, 'completed', ${now}, 20, 1, null, null, null, ${now}, ${now}, ${now}),
               (3, 7, 'https://x.invalid/half.bin', 'direct', 'half.bin', 50, 'paused', ${now}, 25, 0, null, null, '/data/downloads/3/half.bin', ${now}, ${now}, null)`.execute(db);
      await sql`insert into item_files (item_id, position, path, name, size_bytes, file_id, upload_kind, uploaded_at)
        values (2, 0, '/d/a', 'a', 10, 'FA', 'document', ${now}), (2, 1, '/d/b', 'b', 10, 'FB', 'document', ${now})`.execute(db);

      expect(await migrateToLatest(db)).toEqual([
        "2026-11-28-005-files-in-item-files",
        "2026-11-28-006-intake-requests",
        "2026-11-28-007-file-parts",
        "2026-11-28-008-download-segments",
        "2026-12-06-009-live-messages",
        "2026-12-06-010-file-part-index",
        "2026-12-06-011-error-reasons",
      ]);

      expect(await findDelivered(db, 7, "https://x.invalid/old.mp4")).toMatchObject({ files: [{ fileId: "FILE-OLD", kind: "video" }] });
      expect((await listItemFiles(db, 2)).map((f) => f.fileId)).toEqual(["FA", "FB"]);
      expect(await findItem(db, 3)).toMatchObject({ status: "paused", bytesDone: 25, downloaded: false });
      expect(await findItem(db, 2)).toMatchObject({ downloaded: true });
      const columns = (await sql<{ name: string }>`pragma table_info(items)`.execute(db)).rows.map((r) => r.name);
      for (const gone of ["file_id", "upload_kind", "local_path", "downloaded"]) expect(columns).not.toContain(gone);
    } finally {
      await db.destroy();
    }
  });
});

describe("migration 009: an item's live message belongs to the Telegram side's own table", () => {
  it("moves each item's progress message into live_messages and the column out of items", async () => {
    const { db } = await databaseBefore("2026-12-06");
    try {
      const now = 1_800_000_000_000;
      await sql`insert into items (id, chat_id, url, source_kind, title, status, next_attempt_at, progress_message_id, created_at, updated_at)
        values (1, 7, 'https://x.invalid/a', 'direct', 'a', 'queued', ${now}, 41, ${now}, ${now}),
               (2, 7, 'https://x.invalid/b', 'direct', 'b', 'queued', ${now}, null, ${now}, ${now})`.execute(db);
      expect(await migrateToLatest(db)).toEqual(["2026-12-06-009-live-messages", "2026-12-06-010-file-part-index", "2026-12-06-011-error-reasons"]);
      expect([await liveMessageOf(db, 1), await liveMessageOf(db, 2)]).toEqual([41, undefined]);
      expect(await findItem(db, 1)).toMatchObject({ id: 1, status: "queued", title: "a" });
      const columns = (await sql<{ name: string }>`pragma table_info(items)`.execute(db)).rows.map((r) => r.name);
      expect(columns).not.toContain("progress_message_id");
      // 010: a part's number and join name, worded by the chat side.
      const fileColumns = (await sql<{ name: string }>`pragma table_info(item_files)`.execute(db)).rows.map((r) => r.name);
      expect(fileColumns).toEqual(expect.arrayContaining(["part_index", "join_as"]));
    } finally {
      await db.destroy();
    }
  });
});

describe("migration 011: a failure is stored as its reason, not as a sentence", () => {
  it("keeps the sentence an earlier version stored, and stores reasons as data from then on", async () => {
    const { db } = await databaseBefore("2026-12-06-011");
    try {
      const now = 1_800_000_000_000;
      await sql`insert into items (id, chat_id, url, source_kind, title, status, next_attempt_at, attempts, last_error, error_code, created_at, updated_at)
        values (1, 7, 'https://x.invalid/a', 'direct', 'a', 'failed', ${now}, 3, 'x.invalid: the file is not there (HTTP 404); check the link and send it again.', 'HTTP_PERMANENT', ${now}, ${now}),
               (2, 7, 'https://x.invalid/b', 'direct', 'b', 'downloading', ${now}, 1, null, null, ${now}, ${now})`.execute(db);
      expect(await migrateToLatest(db)).toEqual(["2026-12-06-011-error-reasons"]);

      const old = await findItem(db, 1);
      expect(old?.lastError).toEqual({ kind: "legacy", text: "x.invalid: the file is not there (HTTP 404); check the link and send it again." });
      expect(describeLastError(old!.lastError, "unknown error")).toBe("x.invalid: the file is not there (HTTP 404); check the link and send it again.");
      expect((await findItem(db, 2))?.lastError).toBeNull();

      // A failure recorded now is data: the view words it.
      const reason = { kind: "stalled", seconds: 60 } as const;
      await scheduleRetry(db, 2, { attempts: 1, errorCode: "STALLED", lastError: reason }, now + 1000, now);
      expect((await findItem(db, 2))?.lastError).toEqual(reason);
      const stored = (await sql<{ last_error: string }>`select last_error from items where id = 2`.execute(db)).rows[0]!.last_error;
      expect(JSON.parse(stored)).toEqual(reason);
      expect(describeLastError((await findItem(db, 2))!.lastError, "unknown error")).toBe("the server sent no data for 60 s.");

      // Text a version before 011 wrote after all (it ran on this database again) still reads as its text.
      await sql`update items set last_error = 'the connection to x.invalid failed (ECONNRESET).' where id = 2`.execute(db);
      expect((await findItem(db, 2))?.lastError).toEqual({ kind: "legacy", text: "the connection to x.invalid failed (ECONNRESET)." });
    } finally {
      await db.destroy();
    }
  });
});

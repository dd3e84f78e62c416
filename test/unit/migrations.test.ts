import { copyFile, mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Migrator, sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { type Db, MIGRATIONS_DIR, TypeScriptMigrationProvider, migrateToLatest, openDatabase } from "../../src/db/database.ts";
import { describeLastError } from "../../src/bot/views/error-view.ts";
import { findDelivered, findItem, insertItem, listItemFiles, scheduleRetry, updateItem } from "../../src/db/item-repository.ts";
import { liveMessageOf } from "../../src/db/message-repository.ts";

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** An item's status read with plain SQL: the repository knows only the latest schema. */
async function statusOf(db: Db, id: number): Promise<string | undefined> {
  return (await sql<{ status: string }>`select status from items where id = ${id}`.execute(db)).rows[0]?.status;
}

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

/**
 * The migrations from `first` on, by name: what `migrateToLatest` applies to a database
 * `databaseBefore(first)` made (later migrations included, so adding one changes no test here).
 */
async function namesFrom(first: string): Promise<string[]> {
  return (await readdir(MIGRATIONS_DIR))
    .filter((n) => n >= first && /\.(ts|js|mjs)$/.test(n) && !n.endsWith(".d.ts"))
    .map((n) => n.replace(/\.(ts|js|mjs)$/, ""))
    .sort();
}

/**
 * Applies the pending migrations up to and including `last` (a test of one migration looks at the
 * database as that one left it, whatever later migrations change); returns their names.
 */
async function migrateThrough(db: Db, last: string): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new TypeScriptMigrationProvider(MIGRATIONS_DIR) });
  const { error, results } = await migrator.migrateTo(last);
  if (error) throw error;
  return (results ?? []).map((r) => r.migrationName);
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

      expect(await migrateToLatest(db)).toEqual(await namesFrom("2026-11-28"));

      expect(await findDelivered(db, 7, "https://x.invalid/old.mp4", {})).toMatchObject({ files: [{ fileId: "FILE-OLD", kind: "video" }] });
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
      expect(await migrateToLatest(db)).toEqual(await namesFrom("2026-12-06"));
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
      expect(await migrateToLatest(db)).toEqual(await namesFrom("2026-12-06-011"));

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

describe("migration 012: streams and sites are sources of their own", () => {
  /** What the rebuild must keep: the table's columns, its indexes and their definitions. */
  async function itemsShape(db: Db) {
    const columns = (await sql`pragma table_info(items)`.execute(db)).rows;
    const indexes = (await sql<{ name: string; sql: string | null }>`select name, sql from sqlite_master where type = 'index' and tbl_name = 'items' order by name`.execute(db)).rows;
    // The same index written on one line or two is the same index.
    return { columns, indexes: indexes.map((i) => ({ name: i.name, sql: i.sql?.replace(/\s+/g, " ") ?? null })) };
  }
  const insertKind = (db: Db, id: number, kind: string, url = `https://x.invalid/${id}`) =>
    sql`insert into items (id, chat_id, url, source_kind, title, status, next_attempt_at, created_at, updated_at)
      values (${id}, 7, ${url}, ${kind}, 't', 'queued', 1, 1, 1)`.execute(db);

  it("widens source_kind with every row, file, message and index kept, and foreign keys still enforced", async () => {
    const { db } = await databaseBefore("2026-12-06-012");
    try {
      const now = 1_800_000_000_000;
      await sql`insert into items (id, chat_id, url, source_kind, title, size_bytes, status, next_attempt_at, attempts, bytes_done, last_error, error_code, etag, request_id, created_at, updated_at, finished_at)
        values (1, 7, 'https://x.invalid/a.mp4', 'direct', 'a.mp4', 10, 'completed', ${now}, 0, 10, null, null, '"e1"', 3, ${now}, ${now}, ${now}),
               (2, 7, 'https://x.invalid/b', 'crawler', 'b', null, 'downloading', ${now}, 1, 0, null, null, null, null, ${now}, ${now}, null),
               (3, 7, 'magnet:?xt=urn:btih:c', 'torrent', 'c', 30, 'failed', ${now}, 3, 5, '{"kind":"stalled","seconds":60}', 'STALLED', null, null, ${now}, ${now}, ${now}),
               (9, 7, 'https://x.invalid/gone', 'direct', 'gone', null, 'queued', ${now}, 0, 0, null, null, null, null, ${now}, ${now}, null)`.execute(db);
      // The counter stands at 9 with the item gone: no later item may get its id again.
      await sql`delete from items where id = 9`.execute(db);
      await sql`insert into item_files (item_id, position, path, name, size_bytes, file_id, upload_kind, uploaded_at)
        values (1, 0, '/d/a.mp4', 'a.mp4', 10, 'FA', 'video', ${now})`.execute(db);
      await sql`insert into live_messages (item_id, message_id) values (2, 41)`.execute(db);
      await sql`insert into item_messages (chat_id, message_id, item_id, created_at) values (7, 40, 2, ${now})`.execute(db);
      await sql`insert into torrent_notices (item_id, kind, created_at) values (3, 'skipped', ${now})`.execute(db);
      const shape = await itemsShape(db);

      expect(await migrateThrough(db, "2026-12-06-012-stream-and-site-sources")).toEqual(["2026-12-06-012-stream-and-site-sources"]);

      expect(await itemsShape(db)).toEqual(shape);
      // The repositories below speak the latest schema.
      await migrateToLatest(db);
      expect(await findItem(db, 1)).toMatchObject({ sourceKind: "direct", status: "completed", title: "a.mp4", sizeBytes: 10, etag: '"e1"', requestId: 3 });
      expect(await findItem(db, 2)).toMatchObject({ sourceKind: "crawler", status: "downloading", attempts: 1 });
      expect(await findItem(db, 3)).toMatchObject({ sourceKind: "torrent", status: "failed", lastError: { kind: "stalled", seconds: 60 }, errorCode: "STALLED" });
      expect((await listItemFiles(db, 1)).map((f) => f.fileId)).toEqual(["FA"]);
      expect(await liveMessageOf(db, 2)).toBe(41);
      expect((await sql`select item_id from item_messages`.execute(db)).rows).toEqual([{ item_id: 2 }]);
      expect((await sql`select item_id from torrent_notices`.execute(db)).rows).toEqual([{ item_id: 3 }]);

      // The new kinds are stored; anything else is still refused.
      await updateItem(db, 2, { sourceKind: "stream" }, now);
      expect(await findItem(db, 2)).toMatchObject({ sourceKind: "stream" });
      const added = await insertItem(db, { chatId: 7, userId: 1, url: "https://x.invalid/site", sourceKind: "site", title: "s", sizeBytes: null }, now);
      expect(added).toMatchObject({ inserted: true, item: { id: 10, sourceKind: "site" } });
      await expect(insertKind(db, 20, "ftp")).rejects.toThrow(/CHECK constraint failed/);

      // Foreign keys are back on and hold against the new table.
      expect((await sql`pragma foreign_keys`.execute(db)).rows).toEqual([{ foreign_keys: 1 }]);
      expect((await sql`pragma foreign_key_check`.execute(db)).rows).toEqual([]);
      await expect(sql`insert into item_files (item_id, position, path, name, size_bytes) values (99, 0, '/d/x', 'x', 1)`.execute(db)).rejects.toThrow(
        /FOREIGN KEY constraint failed/,
      );
      await sql`delete from items where id = 1`.execute(db);
      expect(await listItemFiles(db, 1)).toEqual([]);
      // The unique index of open URLs came back with the table.
      await insertKind(db, 21, "direct", "https://x.invalid/twice");
      await expect(insertKind(db, 22, "direct", "https://x.invalid/twice")).rejects.toThrow(/UNIQUE constraint failed/);
    } finally {
      await db.destroy();
    }
  });

  it("down narrows it back: streams and sites become direct links, and nothing else changes", async () => {
    const { db } = await databaseBefore("2026-12-06-012");
    try {
      const narrow = await itemsShape(db);
      // Every later migration too: each one's down runs on the way back.
      await migrateToLatest(db);
      await insertKind(db, 1, "stream");
      await insertKind(db, 2, "site");
      await insertKind(db, 3, "torrent");
      await sql`insert into live_messages (item_id, message_id) values (1, 41)`.execute(db);

      // Down to 011: 012 and every later migration undone, 012 last.
      const migrator = new Migrator({ db, provider: new TypeScriptMigrationProvider(MIGRATIONS_DIR) });
      const { error, results } = await migrator.migrateTo("2026-12-06-011-error-reasons");
      expect(error).toBeUndefined();
      expect(results).toEqual((await namesFrom("2026-12-06-012")).reverse().map((migrationName) => ({ migrationName, direction: "Down", status: "Success" })));

      expect(await itemsShape(db)).toEqual(narrow);
      expect((await sql`select id, source_kind from items order by id`.execute(db)).rows).toEqual([
        { id: 1, source_kind: "direct" },
        { id: 2, source_kind: "direct" },
        { id: 3, source_kind: "torrent" },
      ]);
      expect(await liveMessageOf(db, 1)).toBe(41);
      await expect(insertKind(db, 4, "stream")).rejects.toThrow(/CHECK constraint failed/);
      expect((await sql`pragma foreign_keys`.execute(db)).rows).toEqual([{ foreign_keys: 1 }]);
    } finally {
      await db.destroy();
    }
  });
});

describe("migration 015: each chat's settings", () => {
  it("adds an empty table of choices to a database in use, and down takes it away again", async () => {
    const { db } = await databaseBefore("2026-12-06-015");
    try {
      await sql`insert into items (id, chat_id, url, source_kind, title, status, next_attempt_at, created_at, updated_at)
        values (1, 7, 'https://x.invalid/a', 'direct', 'a', 'queued', 1, 1, 1)`.execute(db);
      expect(await migrateToLatest(db)).toEqual(await namesFrom("2026-12-06-015"));
      expect((await sql`select * from chat_settings`.execute(db)).rows).toEqual([]);
      const columns = (await sql<{ name: string; notnull: number; pk: number }>`pragma table_info(chat_settings)`.execute(db)).rows;
      expect(columns.map((c) => [c.name, c.notnull, c.pk])).toEqual([
        ["chat_id", 0, 1],
        ["ask_before_download", 0, 0],
        ["quality_cap", 0, 0],
        ["upload_as", 0, 0],
        ["split_style", 0, 0],
        ["updated_at", 1, 0],
      ]);
      expect(await findItem(db, 1)).toMatchObject({ status: "queued" });

      const migrator = new Migrator({ db, provider: new TypeScriptMigrationProvider(MIGRATIONS_DIR) });
      const { error } = await migrator.migrateTo("2026-12-06-012-stream-and-site-sources");
      expect(error).toBeUndefined();
      expect((await sql`select name from sqlite_master where name = 'chat_settings'`.execute(db)).rows).toEqual([]);
      expect(await statusOf(db, 1)).toBe("queued");
    } finally {
      await db.destroy();
    }
  });
});

describe("migration 013: items that wait for a choice", () => {
  const insertKind = (db: Db, id: number, kind: string, url = `https://x.invalid/${id}`) =>
    sql`insert into items (id, chat_id, url, source_kind, title, status, next_attempt_at, created_at, updated_at)
      values (${id}, 7, ${url}, ${kind}, 't', 'queued', 1, 1, 1)`.execute(db);

  it("lets an item wait in 'choosing', keeps its URL open meanwhile, and down sends it back in line", async () => {
    const { db } = await databaseBefore("2026-12-06-013");
    try {
      await insertKind(db, 1, "torrent", "magnet:?xt=urn:btih:a");
      expect(await migrateToLatest(db)).toEqual(await namesFrom("2026-12-06-013"));
      await sql`update items set status = 'choosing', choice_offer = ${JSON.stringify({ kind: "files", files: [] })}, choice_deadline = 5 where id = 1`.execute(db);
      expect(await findItem(db, 1)).toMatchObject({ status: "choosing", choiceOffer: { kind: "files", files: [] }, choice: null, choiceDeadline: 5 });
      // Waiting for a choice, the URL is still open in the chat: the same link is not queued twice.
      await expect(insertKind(db, 2, "torrent", "magnet:?xt=urn:btih:a")).rejects.toThrow(/UNIQUE constraint failed/);
      await expect(sql`update items set status = 'thinking' where id = 1`.execute(db)).rejects.toThrow(/CHECK constraint failed/);
      await sql`insert into choice_messages (item_id, chat_id, message_id) values (1, 7, 40)`.execute(db);

      const { error } = await new Migrator({ db, provider: new TypeScriptMigrationProvider(MIGRATIONS_DIR) }).migrateTo("2026-12-06-012-stream-and-site-sources");
      expect(error).toBeUndefined();
      expect((await sql<{ status: string }>`select status from items where id = 1`.execute(db)).rows).toEqual([{ status: "queued" }]);
      expect((await sql`select name from sqlite_master where name = 'choice_messages'`.execute(db)).rows).toEqual([]);
    } finally {
      await db.destroy();
    }
  });
});

describe("migration 014: what was asked of a link's media is stored with the item and its request", () => {
  const LAST = "2026-12-06-014-audio-only";
  const open = (db: Db, id: number, url: string, wants: string, status = "queued") =>
    sql`insert into items (id, chat_id, url, source_kind, title, status, next_attempt_at, wants, created_at, updated_at)
      values (${id}, 7, ${url}, 'direct', 't', ${status}, 1, ${wants}, 1, 1)`.execute(db);

  it("gives every item and request no wish, and lets a link's video and its audio be open together", async () => {
    const { db } = await databaseBefore(LAST);
    try {
      const now = 1_800_000_000_000;
      await sql`insert into items (id, chat_id, url, source_kind, title, status, next_attempt_at, created_at, updated_at)
        values (1, 7, 'https://x.invalid/a.mp4', 'direct', 'a.mp4', 'queued', ${now}, ${now}, ${now})`.execute(db);
      await sql`insert into intake_requests (chat_id, kind, text, fresh, created_at) values (7, 'link', 'https://x.invalid/b', 0, ${now})`.execute(db);
      expect(await migrateThrough(db, LAST)).toEqual([LAST]);

      expect((await sql`select url, wants from items where id = 1`.execute(db)).rows).toEqual([{ url: "https://x.invalid/a.mp4", wants: "{}" }]);
      expect((await sql`select wants from intake_requests`.execute(db)).rows).toEqual([{ wants: "{}" }]);
      // What follows reads through the repository, which knows only the latest schema.
      await migrateToLatest(db);
      // The same link asked for its audio is another item; asked twice the same way, it is not.
      const audio = await insertItem(db, { chatId: 7, userId: 1, url: "https://x.invalid/a.mp4", sourceKind: "direct", title: "a", sizeBytes: null, wants: { audioOnly: true } }, now);
      expect(audio).toMatchObject({ inserted: true, item: { id: 2, wants: { audioOnly: true } } });
      const again = await insertItem(db, { chatId: 7, userId: 1, url: "https://x.invalid/a.mp4", sourceKind: "direct", title: "a", sizeBytes: null, wants: { audioOnly: true } }, now);
      expect(again).toMatchObject({ inserted: false, existing: { id: 2 } });
      const video = await insertItem(db, { chatId: 7, userId: 1, url: "https://x.invalid/a.mp4", sourceKind: "direct", title: "a", sizeBytes: null }, now);
      expect(video).toMatchObject({ inserted: false, existing: { id: 1, wants: {} } });
      await expect(open(db, 3, "https://x.invalid/a.mp4", '{"audioOnly":true}')).rejects.toThrow(/UNIQUE constraint failed/);
    } finally {
      await db.destroy();
    }
  });

  it("down makes audio items plain downloads again, cancelling one whose link is open as a plain download too", async () => {
    const { db } = await databaseBefore(LAST);
    try {
      await migrateThrough(db, LAST);
      await open(db, 1, "https://x.invalid/both", "{}");
      await open(db, 2, "https://x.invalid/both", '{"audioOnly":true}');
      await open(db, 3, "https://x.invalid/audio", '{"audioOnly":true}');
      await open(db, 4, "https://x.invalid/both", '{"audioOnly":true}', "completed");

      const migrator = new Migrator({ db, provider: new TypeScriptMigrationProvider(MIGRATIONS_DIR) });
      const { error, results } = await migrator.migrateDown();
      expect(error).toBeUndefined();
      expect(results).toEqual([{ migrationName: LAST, direction: "Down", status: "Success" }]);

      expect((await sql`select id, status from items order by id`.execute(db)).rows).toEqual([
        { id: 1, status: "queued" },
        { id: 2, status: "cancelled" },
        { id: 3, status: "queued" },
        { id: 4, status: "completed" },
      ]);
      const columns = (await sql<{ name: string }>`pragma table_info(items)`.execute(db)).rows.map((r) => r.name);
      expect(columns).not.toContain("wants");
      // The index of open URLs is the one before: one open item per link and chat.
      await expect(sql`update items set status = 'queued' where id = 2`.execute(db)).rejects.toThrow(/UNIQUE constraint failed/);
    } finally {
      await db.destroy();
    }
  });
});

describe("migration 016: subscriptions and the entries each has seen", () => {
  it("adds both tables to a database in use, keeps an entry once per subscription, and down takes them away again", async () => {
    const { db } = await databaseBefore("2026-12-06-016");
    try {
      await sql`insert into items (id, chat_id, url, source_kind, title, status, next_attempt_at, created_at, updated_at)
        values (1, 7, 'https://x.invalid/a', 'direct', 'a', 'queued', 1, 1, 1)`.execute(db);
      expect(await migrateToLatest(db)).toEqual(await namesFrom("2026-12-06-016"));
      const columns = (await sql<{ name: string; notnull: number; pk: number }>`pragma table_info(subscriptions)`.execute(db)).rows;
      expect(columns.map((c) => c.name)).toEqual([
        "id", "chat_id", "user_id", "url", "kind", "name", "every_ms", "cron", "match_filter", "exclude_filter", "last_n",
        "next_check_at", "checked_at", "baseline_at", "failures", "failure_told", "last_result", "created_at", "updated_at",
      ]);
      await sql`insert into subscriptions (id, chat_id, url, every_ms, next_check_at, created_at, updated_at) values (1, 7, 'https://x.invalid/feed', 3600000, 5, 1, 1)`.execute(db);
      // A second of the same URL in the same chat, or one with no schedule (or two), is refused.
      await expect(sql`insert into subscriptions (chat_id, url, every_ms, next_check_at, created_at, updated_at) values (7, 'https://x.invalid/feed', 60, 5, 1, 1)`.execute(db)).rejects.toThrow(/UNIQUE/);
      await expect(sql`insert into subscriptions (chat_id, url, next_check_at, created_at, updated_at) values (8, 'https://x.invalid/feed', 5, 1, 1)`.execute(db)).rejects.toThrow(/CHECK/);
      await expect(sql`insert into subscriptions (chat_id, url, every_ms, cron, next_check_at, created_at, updated_at) values (8, 'https://x.invalid/feed', 60, '0 * * * *', 5, 1, 1)`.execute(db)).rejects.toThrow(/CHECK/);
      await sql`insert into subscription_entries (subscription_id, entry_key, url, outcome, item_id, seen_at) values (1, 'guid-1', 'https://x.invalid/1.mp3', 'queued', 1, 2)`.execute(db);
      await expect(sql`insert into subscription_entries (subscription_id, entry_key, url, outcome, seen_at) values (1, 'guid-1', 'https://x.invalid/1.mp3', 'queued', 3)`.execute(db)).rejects.toThrow(/UNIQUE|PRIMARY/);
      // Removing a subscription removes what it saw; its items stay.
      await sql`delete from subscriptions where id = 1`.execute(db);
      expect((await sql`select * from subscription_entries`.execute(db)).rows).toEqual([]);
      expect(await statusOf(db, 1)).toBe("queued");

      const migrator = new Migrator({ db, provider: new TypeScriptMigrationProvider(MIGRATIONS_DIR) });
      const { error } = await migrator.migrateTo("2026-12-06-015-chat-settings");
      expect(error).toBeUndefined();
      expect((await sql`select name from sqlite_master where name like 'subscription%'`.execute(db)).rows).toEqual([]);
      expect(await statusOf(db, 1)).toBe("queued");
    } finally {
      await db.destroy();
    }
  });
});

describe("migration 018: byte parts recorded while their file downloads", () => {
  it("keeps a finished download's files as finished, and tells a pending part's item apart as not downloaded", async () => {
    const { db } = await databaseBefore("2026-12-06-018");
    try {
      await sql`insert into items (id, chat_id, url, source_kind, title, status, next_attempt_at, created_at, updated_at)
        values (1, 7, 'https://x.invalid/a', 'direct', 'a', 'uploading', 1, 1, 1), (2, 7, 'https://x.invalid/b', 'direct', 'b', 'downloading', 1, 1, 1)`.execute(db);
      await sql`insert into item_files (item_id, position, path, name, size_bytes) values (1, 0, '/d/1/a', 'a', 10)`.execute(db);
      expect(await migrateToLatest(db)).toEqual(await namesFrom("2026-12-06-018"));
      expect(await findItem(db, 1)).toMatchObject({ downloaded: true });
      await sql`insert into item_files (item_id, position, path, name, size_bytes, pending) values (2, 0, '/d/2/b', 'b.001', 5, 1)`.execute(db);
      expect(await findItem(db, 2)).toMatchObject({ downloaded: false });

      const migrator = new Migrator({ db, provider: new TypeScriptMigrationProvider(MIGRATIONS_DIR) });
      expect((await migrator.migrateTo("2026-12-06-017-api-tokens")).error).toBeUndefined();
      expect((await sql`select item_id, name from item_files order by id`.execute(db)).rows).toEqual([
        { item_id: 1, name: "a" },
        { item_id: 2, name: "b.001" },
      ]);
    } finally {
      await db.destroy();
    }
  });
});

describe("migration 019: a chat's items by link", () => {
  it("adds the index, and a link's last delivery is still the newest of its completed items", async () => {
    const { db } = await databaseBefore("2026-12-06-019");
    try {
      const url = "https://x.invalid/a.bin";
      for (const [id, finishedAt] of [[1, 10], [2, 30], [3, 20]] as const) {
        await sql`insert into items (id, chat_id, url, source_kind, title, status, next_attempt_at, created_at, updated_at, finished_at)
          values (${id}, 7, ${url}, 'direct', 'a.bin', 'completed', 1, 1, 1, ${finishedAt})`.execute(db);
        await sql`insert into item_files (item_id, position, path, name, size_bytes, file_id, upload_kind) values (${id}, 0, '/gone', 'a.bin', 5, ${`F${id}`}, 'document')`.execute(db);
      }
      expect(await migrateToLatest(db)).toEqual(await namesFrom("2026-12-06-019"));
      // The link first: query-plans.test.ts shows why.
      const columns = await sql<{ name: string }>`select name from pragma_index_info('items_url_chat') order by seqno`.execute(db);
      expect(columns.rows).toEqual([{ name: "url" }, { name: "chat_id" }]);
      const found = await findDelivered(db, 7, url, {});
      expect(found?.item.id).toBe(2);
      expect(found?.files).toEqual([{ fileId: "F2", kind: "document", name: "a.bin", caption: null, partOf: null, partIndex: null, joinAs: null }]);
    } finally {
      await db.destroy();
    }
  });
});

/**
 * The lookups that run on every `/download` and history page, planned by SQLite on a database
 * with 100,000 finished items: each must go through an index that narrows it to the rows it
 * wants, not walk the chat's history. SQLite has no statistics here (no ANALYZE), so a new index
 * can change the plan of a query it was not meant for: this pins them all.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Db, migrateToLatest, openDatabase } from "../../src/db/database.ts";
import { countFinished, findDelivered, findOpenByUrl, listFinished, listOpenItems } from "../../src/db/item-query-repository.ts";

const CHAT = 7;
const HISTORY = 100_000;
let dir: string;
let file: string;
let db: Db;
let queries: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "dlbot-plans-"));
  file = path.join(dir, "bot.sqlite");
  db = openDatabase(file, { onQuery: (query) => queries.push(query) });
  await migrateToLatest(db);
  await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < ${HISTORY})
    insert into items (chat_id, url, source_kind, title, status, next_attempt_at, created_at, updated_at, finished_at)
    select ${CHAT}, 'https://files.invalid/' || i || '.bin', 'direct', i || '.bin', 'completed', 1, i, i, i from n`.execute(db);
  await sql`insert into items (chat_id, url, source_kind, title, status, next_attempt_at, created_at, updated_at)
    values (${CHAT}, 'https://files.invalid/open.bin', 'direct', 'open.bin', 'queued', 1, 1, 1)`.execute(db);
});

afterAll(async () => {
  await db.destroy();
  await rm(dir, { recursive: true, force: true });
});

/** What SQLite plans for the one query `run` makes (its parameters bound as NULL: the plan does not depend on them). */
async function planOf(run: () => Promise<unknown>): Promise<string> {
  queries = [];
  await run();
  const main = queries.filter((q) => q.includes('from "items"'));
  expect(main).toHaveLength(1);
  const raw = new SqliteDatabase(file, { readonly: true });
  try {
    const params = Array.from(main[0]!.matchAll(/\?/g), () => null);
    return raw
      .prepare(`explain query plan ${main[0]}`)
      .all(...params)
      .map((row) => (row as { detail: string }).detail)
      .join(" | ");
  } finally {
    raw.close();
  }
}

describe("query plans with 100,000 finished items in a chat", () => {
  it("finds a link's earlier delivery and its open item by the link", async () => {
    expect(await planOf(async () => expect(await findDelivered(db, CHAT, "https://files.invalid/5.bin", {})).toBeUndefined())).toMatch(/^SEARCH items USING INDEX items_url_chat \(url=\? AND chat_id=\?\)/);
    expect(await planOf(async () => expect((await findOpenByUrl(db, CHAT, "https://files.invalid/open.bin", {}))?.title).toBe("open.bin"))).toMatch(/^SEARCH items USING INDEX items_url_chat \(url=\? AND chat_id=\?\)/);
  });

  it("reads a chat's open items through the queue's index, not through its history", async () => {
    const plan = await planOf(async () => expect((await listOpenItems(db, CHAT)).map((i) => i.title)).toEqual(["open.bin"]));
    expect(plan).toMatch(/^SEARCH items USING INDEX items_ready \(status=\?\)/);
  });

  it("pages a chat's history through its partial index, already in order", async () => {
    const plan = await planOf(async () => expect((await listFinished(db, CHAT, 0, 3)).map((i) => i.title)).toEqual([`${HISTORY}.bin`, `${HISTORY - 1}.bin`, `${HISTORY - 2}.bin`]));
    expect(plan).toMatch(/^SEARCH items USING INDEX items_chat_finished \(chat_id=\?\)/);
    expect(plan).not.toContain("TEMP B-TREE");
    expect(await planOf(async () => expect(await countFinished(db, CHAT)).toBe(HISTORY))).toMatch(/USING (COVERING )?INDEX items_chat_finished \(chat_id=\?\)/);
  });
});

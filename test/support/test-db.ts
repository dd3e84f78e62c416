import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Db, migrateToLatest, openDatabase } from "../../src/db/database.ts";

/** A real SQLite file with the real migrations, in a folder of its own; `close()` removes both. */
export interface TestDb {
  db: Db;
  dir: string;
  close(): Promise<void>;
}

export async function openTestDb(prefix = "dlbot-db-"): Promise<TestDb> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  const db = openDatabase(path.join(dir, "bot.sqlite"));
  await migrateToLatest(db);
  return {
    db,
    dir,
    close: async () => {
      await db.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

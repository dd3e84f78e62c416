import type { Logger } from "../logger.ts";
import { isDiskFull } from "../errors.ts";
import type { DataDisk } from "../storage/data-disk.ts";
import { type Db, migrateToLatest, openDatabase } from "./database.ts";

/**
 * Opens the database and applies pending migrations. On a full disk SQLite cannot even open in
 * WAL mode: the ballast is given up and it tries once more, so a full disk never stops the start.
 */
export async function openMigrated(file: string, disk: DataDisk, logger: Logger): Promise<Db> {
  for (let attempt = 0; ; attempt++) {
    let db: Db | undefined;
    try {
      // Every query in the log at "trace" (what the bench counts to check an idle bot makes none).
      db = openDatabase(file, logger.isLevelEnabled("trace") ? { onQuery: (sql, ms) => logger.trace({ sql, ms }, "query") } : {});
      const applied = await migrateToLatest(db);
      if (applied.length) logger.info({ applied }, "database migrated");
      return db;
    } catch (error) {
      await db?.destroy().catch(() => {});
      const cause = (error as { cause?: unknown }).cause ?? error;
      if (attempt > 0 || !(isDiskFull(error) || isDiskFull(cause)) || !(await disk.releaseBallast())) throw error;
    }
  }
}

import { promises as fs } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import SqliteDatabase from "better-sqlite3";
import { type Migration, type MigrationProvider, Kysely, Migrator, SqliteDialect, sql } from "kysely";
import { AppError, isDiskFull } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { Database } from "./schema.ts";

export type Db = Kysely<Database>;


/**
 * Runs `work` in one write transaction. Unlike Kysely's `transaction()`, the error that stopped it
 * is the one that comes out: SQLite rolls a transaction back by itself when the disk is full, and
 * the ROLLBACK that follows then fails ("no transaction is active"), which Kysely throws instead of
 * SQLITE_FULL, so a full disk looked like a bug to everyone deciding what a failure means.
 * IMMEDIATE takes the write lock at the start: a read that later wants to write cannot be refused
 * half-way by another writer (the busy timeout waits for it instead).
 */
export async function transact<T>(db: Db, work: (trx: Db) => Promise<T>): Promise<T> {
  return db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    let result: T;
    try {
      result = await work(conn);
      await sql`commit`.execute(conn);
    } catch (error) {
      await sql`rollback`.execute(conn).catch(() => {});
      throw error;
    }
    return result;
  });
}

export const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations", import.meta.url));

/**
 * Opens the SQLite file in WAL mode (readers never block the single writer) with a busy timeout,
 * so a second process or a slow disk waits instead of failing at once.
 */
export function openDatabase(file: string, opts: { onQuery?: (sql: string, ms: number) => void } = {}): Db {
  const sqlite = new SqliteDatabase(file);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("foreign_keys = ON");
  const { onQuery } = opts;
  return new Kysely<Database>({
    dialect: new SqliteDialect({ database: sqlite }),
    ...(onQuery ? { log: (event) => onQuery(event.query.sql, event.queryDurationMillis) } : {}),
  });
}

/**
 * Kysely's FileMigrationProvider, but importing from our own module: the import then goes through
 * whatever loads our code (plain JavaScript from dist/ at run time, Vite in tests) instead of Node's bare loader.
 */
export class TypeScriptMigrationProvider implements MigrationProvider {
  constructor(private readonly folder: string) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const migrations: Record<string, Migration> = {};
    const names = (await fs.readdir(this.folder)).filter((f) => /\.(ts|js|mjs)$/.test(f) && !f.endsWith(".d.ts")).sort();
    for (const file of names) {
      const module = (await import(pathToFileURL(path.join(this.folder, file)).href)) as Partial<Migration>;
      if (typeof module.up !== "function") throw new Error(`migration ${file} exports no up()`);
      migrations[file.replace(/\.(ts|js|mjs)$/, "")] = module as Migration;
    }
    return migrations;
  }
}

/** Applies every pending migration; a failure stops the start (Kysely returns errors, we throw). */
export async function migrateToLatest(db: Kysely<any>, folder = MIGRATIONS_DIR): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: new TypeScriptMigrationProvider(folder),
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error || failed) {
    const reason = error instanceof Error ? error.message : String(error ?? "unknown error");
    throw new AppError(
      "MIGRATION_FAILED",
      `Database migration ${failed?.migrationName ?? ""} failed: ${reason}`.replace("  ", " "),
      { cause: error },
    );
  }
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

/**
 * Opens the database and applies pending migrations, as the start does. On a full disk SQLite
 * cannot even open in WAL mode: `releaseSpace` gives up the ballast (true when it freed some) and
 * it tries once more, so a full disk never stops the start.
 */
export async function openMigrated(file: string, options: { logger: Logger; releaseSpace: () => Promise<boolean> }): Promise<Db> {
  const { logger } = options;
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
      if (attempt > 0 || !(isDiskFull(error) || isDiskFull(cause)) || !(await options.releaseSpace())) throw error;
    }
  }
}

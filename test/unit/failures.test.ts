import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { GrammyError, HttpError } from "grammy";
import { afterEach, describe, expect, it } from "vitest";
import { uploadError } from "../../src/bot/uploader.ts";
import { describeReason } from "../../src/bot/views/error-view.ts";
import { migrateToLatest, openDatabase } from "../../src/db/database.ts";
import { AppError } from "../../src/errors.ts";
import { httpStatusError } from "../../src/net/http-client.ts";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe("what is retried and what fails at once", () => {
  it("gives up at once on HTTP answers that cannot heal, and retries the others", () => {
    for (const status of [400, 401, 403, 404, 410]) {
      const e = httpStatusError(status, "https://files.example/a.bin");
      expect(e.retryable, String(status)).toBe(false);
      expect(e.code).toBe("HTTP_PERMANENT");
    }
    for (const status of [408, 429, 500, 502, 503, 504]) {
      const e = httpStatusError(status, "https://files.example/a.bin");
      expect(e.retryable, String(status)).toBe(true);
      expect(describeReason(e.reason)).toBe(`files.example: the server answered HTTP ${status}.`);
    }
  });

  it("retries an upload Telegram failed on its side or the connection broke, not one it refused", () => {
    const refused = uploadError(new GrammyError("x", { ok: false, error_code: 400, description: "Bad Request: chat not found" }, "sendDocument", {}));
    expect(refused.retryable).toBe(false);
    const tooBig = uploadError(new GrammyError("x", { ok: false, error_code: 413, description: "Request Entity Too Large" }, "sendDocument", {}));
    expect(tooBig).toMatchObject({ retryable: false, code: "UPLOAD_FAILED" });
    expect(describeReason(tooBig.reason)).toMatch(/local Bot API server/);
    expect(uploadError(new GrammyError("x", { ok: false, error_code: 502, description: "Bad Gateway" }, "sendDocument", {})).retryable).toBe(true);
    const broken = uploadError(new HttpError("Network request for 'sendDocument' failed!", new Error("ECONNRESET")));
    expect(broken.retryable).toBe(true);
    expect(describeReason(broken.reason)).toMatch(/retried from the file on disk/);
  });
});

describe("migrations", () => {
  it("a migration that fails stops the start with an error naming it", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "mig-"));
    dirs.push(dir);
    await writeFile(path.join(dir, "001-ok.mjs"), "export async function up(db) { await db.schema.createTable('t').addColumn('x', 'integer').execute(); }\n");
    await writeFile(path.join(dir, "002-bad.mjs"), "export async function up() { throw new Error('boom'); }\n");
    const db = openDatabase(path.join(dir, "db.sqlite"));
    try {
      const error = await migrateToLatest(db, dir).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect(error).toMatchObject({ code: "MIGRATION_FAILED" });
      expect((error as AppError).message).toBe("Database migration 002-bad failed: boom");
    } finally {
      await db.destroy();
    }
  });
});

import { execFileSync } from "node:child_process";
import { mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Api } from "grammy";
import { afterEach, describe, expect, it } from "vitest";
import { telegramFileFetcher } from "../../src/bot/telegram-file-fetcher.ts";
import { describeReason } from "../../src/bot/views/error-view.ts";
import { AppError } from "../../src/errors.ts";
import { MAX_TORRENT_FILE_BYTES } from "../../src/sources/torrent/torrent-meta.ts";

// A minimal Bot API file server on loopback whose file route fails a set number of times, to see
// the fetcher's own retries (a .torrent document is not queued yet: nothing else retries it).
const TOKEN = "123:abc";
let server: http.Server;
afterEach(() => new Promise<void>((r) => server.close(() => r())));

async function start(failures: number, status = 503): Promise<{ root: string; fileHits: () => number }> {
  let hits = 0;
  server = http.createServer((req, res) => {
    if (req.url?.startsWith(`/bot${TOKEN}/getFile`)) {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ ok: true, result: { file_id: "F", file_unique_id: "U", file_size: 5, file_path: "documents/a.torrent" } }));
      return;
    }
    if (req.url === `/file/bot${TOKEN}/documents/a.torrent`) {
      hits++;
      if (hits <= failures) {
        res.statusCode = status;
        res.end("busy");
        return;
      }
      res.end("d4:infoe");
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { root: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, fileHits: () => hits };
}

describe("telegramFileFetcher", () => {
  it("retries a passing fault of Telegram's file server twice before giving up", async () => {
    const { root, fileHits } = await start(2);
    const fetch = telegramFileFetcher(new Api(TOKEN, { apiRoot: root }), { apiRoot: root, token: TOKEN, retryDelayMs: 10 });
    expect((await fetch("F")).toString()).toBe("d4:infoe");
    expect(fileHits()).toBe(3);
  });

  it("does not retry what cannot heal, and never puts the token in the error", async () => {
    const { root, fileHits } = await start(5, 404);
    const fetch = telegramFileFetcher(new Api(TOKEN, { apiRoot: root }), { apiRoot: root, token: TOKEN, retryDelayMs: 10 });
    const error = await fetch("F").catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect(fileHits()).toBe(1);
    expect(JSON.stringify({ m: (error as Error).message, s: (error as Error).stack })).not.toContain(TOKEN);
  });
});

/** A local Bot API server (`--local`): getFile answers with an absolute path on its disk. */
async function startLocal(file: { path: string; size?: number }): Promise<{ root: string; getFiles: () => number }> {
  let calls = 0;
  server = http.createServer((req, res) => {
    calls++;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ ok: true, result: { file_id: "F", file_unique_id: "U", ...(file.size !== undefined ? { file_size: file.size } : {}), file_path: file.path } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { root: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, getFiles: () => calls };
}

describe("telegramFileFetcher with a local Bot API server", () => {
  let dir: string;
  afterEach(() => rm(dir, { recursive: true, force: true }));
  const fetcher = (root: string) => telegramFileFetcher(new Api(TOKEN, { apiRoot: root }), { apiRoot: root, token: TOKEN, retryDelayMs: 10 });
  const refusal = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as AppError);

  it("reads a small file from disk", async () => {
    dir = await mkdtemp(path.join(tmpdir(), "fetcher-"));
    await writeFile(path.join(dir, "a.torrent"), "d4:infoe");
    const { root } = await startLocal({ path: path.join(dir, "a.torrent"), size: 8 });
    expect((await fetcher(root)("F")).toString()).toBe("d4:infoe");
  });

  it("refuses a file over the .torrent limit by the size getFile reports, without reading it", async () => {
    dir = await mkdtemp(path.join(tmpdir(), "fetcher-"));
    // Not even there: a read would fail differently.
    const { root, getFiles } = await startLocal({ path: path.join(dir, "missing.torrent"), size: 2000 * 1024 * 1024 });
    const error = await refusal(fetcher(root)("F"));
    expect(error).toBeInstanceOf(AppError);
    expect(error!.code).toBe("TOO_LARGE");
    expect(describeReason(error!.reason)).toBe("2.0 GB is too much for a .torrent file.");
    expect(getFiles()).toBe(1);
  });

  it("refuses a file over the limit whose size getFile understates, reading no more than the limit", async () => {
    dir = await mkdtemp(path.join(tmpdir(), "fetcher-"));
    const big = path.join(dir, "big.torrent");
    await writeFile(big, "");
    // Sparse: the test costs no disk space.
    await truncate(big, MAX_TORRENT_FILE_BYTES + 1024 * 1024);
    const { root } = await startLocal({ path: big, size: 100 });
    const error = await refusal(fetcher(root)("F"));
    expect(error!.code).toBe("TOO_LARGE");
    expect(describeReason(error!.reason)).toMatch(/^11\.0 MB is too much for a \.torrent file\.$/);
  });

  it("refuses what is not a regular file (a FIFO would never end)", async () => {
    dir = await mkdtemp(path.join(tmpdir(), "fetcher-"));
    const fifo = path.join(dir, "pipe.torrent");
    execFileSync("mkfifo", [fifo]);
    const { root } = await startLocal({ path: fifo });
    const error = await refusal(fetcher(root)("F"));
    expect(error).toBeInstanceOf(AppError);
    expect(error!.retryable).toBe(false);
    expect(describeReason(error!.reason)).not.toMatch(/undefined/);
  });
});

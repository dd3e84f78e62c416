import http from "node:http";
import type { AddressInfo } from "node:net";
import { Api } from "grammy";
import { afterEach, describe, expect, it } from "vitest";
import { telegramFileFetcher } from "../../src/bot/telegram-file-fetcher.ts";

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

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/database.ts";
import { listItems } from "../../src/db/item-repository.ts";
import { createLogger } from "../../src/logger.ts";
import { createHttpClient } from "../../src/net/http-client.ts";
import type { IntakeDeps } from "../../src/intake/intake.ts";
import { enqueueTorrent } from "../../src/intake/torrent-intake.ts";
import { type TestDb, openTestDb } from "../support/test-db.ts";

// A real SQLite file with the real migrations; magnets need no network.
let opened: TestDb;
let db: Db;
let deps: IntakeDeps;
beforeEach(async () => {
  opened = await openTestDb("tintake-");
  db = opened.db;
  deps = {
    db,
    http: createHttpClient({ allowPrivateNetworks: false }),
    logger: createLogger({ level: "silent", secrets: [] }),
    maxFileSizeBytes: 1000,
    onQueued: () => {},
  };
});
afterEach(() => opened.close());

const HASH = "0123456789abcdef0123456789abcdef01234567";

describe("enqueueTorrent", () => {
  it("treats two magnets of one torrent (other name, other trackers) as one item", async () => {
    const first = await enqueueTorrent(deps, { chatId: 1, userId: 1 }, { kind: "magnet", uri: `magnet:?xt=urn:btih:${HASH}&dn=a&tr=http%3A%2F%2Ft1.example%2Fannounce` });
    const second = await enqueueTorrent(deps, { chatId: 1, userId: 1 }, { kind: "magnet", uri: `magnet:?xt=urn:btih:${HASH.toUpperCase()}&dn=b&tr=http%3A%2F%2Ft2.example%2Fannounce` });
    const otherChat = await enqueueTorrent(deps, { chatId: 2, userId: 1 }, { kind: "magnet", uri: `magnet:?xt=urn:btih:${HASH}` });
    expect(first.status).toBe("queued");
    expect(second).toMatchObject({ status: "duplicate", position: 1 });
    expect(second.status !== "refused" && first.status !== "refused" && second.item.id).toBe(first.status !== "refused" && first.item.id);
    expect(otherChat.status).toBe("queued");
    expect(await listItems(db)).toHaveLength(2);
  });
});

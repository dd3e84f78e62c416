import { createHash } from "node:crypto";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { findItem } from "../../src/db/item-repository.ts";
import { FileServer } from "../support/file-server.ts";
import { CHAT, Harness, USER } from "../support/harness.ts";
import { WebClient, freePort } from "../support/web-client.ts";

/** A second allowed chat (not an admin chat: the first allowed chat is). */
const OTHER = 1002;

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function world(overrides: Parameters<typeof Harness.create>[0] = {}): Promise<{ h: Harness; web: WebClient }> {
  h = await Harness.create({ allowedChatIds: [CHAT, OTHER], web: { port: await freePort() }, ...overrides });
  await h.start();
  return { h, web: new WebClient(`http://127.0.0.1:${h.config.web.port}`) };
}

/** Every API endpoint, with a body it would take. */
const ENDPOINTS: Array<[string, string, unknown?]> = [
  ["GET", "/api/status"],
  ["GET", "/api/session"],
  ["GET", "/api/items"],
  ["GET", "/api/items/1"],
  ["POST", "/api/items", { url: "https://example.com/a.bin" }],
  ["PATCH", "/api/items/1", { priority: "high" }],
  ["POST", "/api/items/1/pause"],
  ["POST", "/api/items/1/resume"],
  ["POST", "/api/items/1/cancel"],
  ["POST", "/api/items/1/retry"],
  ["POST", "/api/items/1/choice", { kind: "best" }],
  ["POST", "/api/items/batch", { ids: [1], action: "cancel" }],
  ["POST", "/api/queue/pause"],
  ["POST", "/api/queue/resume"],
  ["GET", "/api/events"],
];

/** Sends /apitoken in the chat and reads the token out of the bot's answer. */
async function tokenFor(h: Harness, chatId: number): Promise<string> {
  const since = h.api.nextSeq;
  h.send("/apitoken", chatId);
  const reply = await h.reply(since, chatId, /API token/);
  const token = /dlb_\d+_[A-Za-z0-9_-]{43}/.exec(String(reply.params.text))?.[0];
  if (!token) throw new Error(`no token in ${String(reply.params.text)}`);
  return token;
}

describe("API tokens", () => {
  it("/apitoken makes a token that acts as its chat, kept only as a hash; no token, a wrong one and a revoked one get 401", async () => {
    const { h, web } = await world();
    const token = await tokenFor(h, CHAT);
    const secret = token.replace(/^dlb_\d+_/, "");

    const rows = await sql<Record<string, unknown>>`select * from api_tokens`.execute(h.app!.db);
    expect(rows.rows).toHaveLength(1);
    expect(rows.rows[0]).toMatchObject({ chat_id: CHAT, created_by: USER, token_hash: createHash("sha256").update(secret).digest("hex") });
    expect(JSON.stringify(rows.rows)).not.toContain(secret);

    for (const [method, path, body] of ENDPOINTS) {
      const none = await web.call(method, path, body);
      expect([method, path, none.status, none.body.error.code]).toEqual([method, path, 401, "UNAUTHORIZED"]);
    }
    const wrong = await web.withAuth(`Bearer ${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`).get("/api/status");
    expect(wrong.status).toBe(401);
    const mine = web.withAuth(`Bearer ${token}`);
    expect((await mine.get("/api/status")).body).toMatchObject({ chatId: CHAT, queuePaused: false, active: null, admin: true });
    expect((await mine.get("/api/session")).body).toMatchObject({ via: "token", chatId: CHAT, chatIds: [CHAT] });

    const since = h.api.nextSeq;
    h.send("/apitoken revoke");
    expect(String((await h.reply(since, CHAT, /token/)).params.text)).toBe("Ended this chat's API token.");
    for (const [method, path, body] of ENDPOINTS) {
      const revoked = await mine.call(method, path, body);
      expect([method, path, revoked.status, revoked.body.error.code]).toEqual([method, path, 401, "UNAUTHORIZED"]);
      expect(revoked.body.error.message).toMatch(/not valid/);
    }
    expect((await sql`select count(*) as n from items`.execute(h.app!.db)).rows).toEqual([{ n: 0 }]);
  });

  it("answers /apitoken without web.port with what to set, and makes no token", async () => {
    h = await Harness.create();
    await h.start();
    const since = h.api.nextSeq;
    h.send("/apitoken");
    expect(String((await h.reply(since, CHAT, /web/)).params.text)).toMatch(/web API is off/);
    expect((await sql`select * from api_tokens`.execute(h.app!.db)).rows).toEqual([]);
  });

  it("limits each token to web.rateLimitPerMinute requests, with Retry-After", async () => {
    const { h, web } = await world({ web: { port: await freePort(), rateLimitPerMinute: 3 } });
    const api = web.withAuth(`Bearer ${await tokenFor(h, CHAT)}`);
    const other = web.withAuth(`Bearer ${await tokenFor(h, OTHER)}`);
    for (let i = 0; i < 3; i++) expect((await api.get("/api/status")).status).toBe(200);
    const limited = await api.get("/api/status");
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("RATE_LIMITED");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    // Another token has its own.
    expect((await other.get("/api/status")).status).toBe(200);
  });
});

describe("the items of a chat over the API", () => {
  it("every endpoint acts as the token's chat; another chat's token gets 404 for its items, never 403", async () => {
    const { h, web } = await world();
    const api = web.withAuth(`Bearer ${await tokenFor(h, CHAT)}`);
    const other = web.withAuth(`Bearer ${await tokenFor(h, OTHER)}`);
    const slow = h.files.addFile("/slow.bin", FileServer.randomBytes(2_000_000, 1));
    h.files.throttle("/slow.bin", 100_000);
    const waiting = h.files.addFile("/waiting.bin", FileServer.randomBytes(10_000, 2));
    const theirs = h.files.addFile("/theirs.bin", FileServer.randomBytes(10_000, 3));

    const running = await api.post("/api/items", { url: slow.url });
    expect(running.status).toBe(201);
    expect(running.body).toMatchObject({ status: "queued", position: 1, item: { id: 1, chatId: CHAT, title: "slow.bin", sizeBytes: 2_000_000, priority: "normal" } });
    await h.files.waitForBytes("/slow.bin", 1);
    expect((await api.post("/api/items", { url: waiting.url, priority: "low" })).body).toMatchObject({ status: "queued", position: 2, item: { id: 2, priority: "low" } });
    // Before #2, which is of a lower priority.
    expect((await other.post("/api/items", { url: theirs.url })).body).toMatchObject({ status: "queued", position: 2, item: { id: 3, chatId: OTHER } });

    // Reads.
    expect((await api.get("/api/status")).body).toMatchObject({ chatId: CHAT, active: { id: 1, status: "downloading" }, activeElsewhere: false, counts: { downloading: 1, queued: 1 } });
    expect((await other.get("/api/status")).body).toMatchObject({ chatId: OTHER, active: null, activeElsewhere: true, admin: false, counts: { queued: 1 } });
    expect((await api.get("/api/items")).body).toMatchObject({ total: 2, items: [{ id: 1, position: 1 }, { id: 2, position: 3 }] });
    expect((await other.get("/api/items")).body).toMatchObject({ total: 1, items: [{ id: 3, position: 2 }] });
    // Listed by status, each has the same place in line (from one read of the queue).
    const all = (await api.get("/api/items?status=all")).body as { total: number; items: Array<{ id: number; position: number | null }> };
    expect(all.total).toBe(2);
    expect(all.items.map((i) => [i.id, i.position]).sort()).toEqual([[1, 1], [2, 3]]);
    expect((await api.get("/api/items?status=queued")).body).toMatchObject({ total: 1, items: [{ id: 2, position: 3 }] });
    expect((await api.get("/api/items/2")).body).toMatchObject({ id: 2, status: "queued", position: 3, url: waiting.url });
    for (const path of ["/api/items/1", "/api/items/2"]) {
      const foreign = await other.get(path);
      expect(foreign.status).toBe(404);
      expect(foreign.body.error.code).toBe("NOT_FOUND");
    }
    expect((await api.get("/api/items/999")).status).toBe(404);

    // Every action, and each answered 404 to the other chat with nothing changed.
    for (const [method, path, body] of [
      ["PATCH", "/api/items/2", { priority: "high" }],
      ["POST", "/api/items/2/pause", undefined],
      ["POST", "/api/items/2/resume", undefined],
      ["POST", "/api/items/2/cancel", undefined],
      ["POST", "/api/items/2/retry", undefined],
      ["POST", "/api/items/2/choice", { kind: "best" }],
    ] as const) {
      const foreign = await other.call(method, path, body);
      expect([path, foreign.status, foreign.body.error.code]).toEqual([path, 404, "NOT_FOUND"]);
    }
    expect(await findItem(h.app!.db, 2)).toMatchObject({ status: "queued", priority: -10 });

    expect((await api.patch("/api/items/2", { priority: "high" })).body).toMatchObject({ ok: true, did: "priority", item: { id: 2, priority: "high" } });
    expect((await api.post("/api/items/2/pause")).body).toMatchObject({ ok: true, did: "paused", item: { status: "paused" } });
    const again = await api.post("/api/items/2/pause");
    expect([again.status, again.body.error.code, again.body.error.why]).toEqual([409, "CONFLICT", "already-paused"]);
    expect((await api.post("/api/items/2/resume")).body).toMatchObject({ ok: true, did: "resumed", item: { status: "queued" } });
    expect((await api.post("/api/items/2/cancel")).body).toMatchObject({ ok: true, did: "cancelled", item: { status: "cancelled" } });
    expect((await api.get("/api/items?status=finished")).body).toMatchObject({ total: 1, items: [{ id: 2, status: "cancelled" }] });
    expect((await api.get("/api/items?status=cancelled")).body).toMatchObject({ total: 1, items: [{ id: 2 }] });
    expect((await api.post("/api/items/2/retry")).body).toMatchObject({ ok: true, did: "requeued", item: { status: "queued" } });
    const notChoosing = await api.post("/api/items/2/choice", { kind: "best" });
    expect([notChoosing.status, notChoosing.body.error.why]).toEqual([409, "not-choosing"]);

    // The whole queue: an admin chat's switch only.
    const refused = await other.post("/api/queue/pause");
    expect([refused.status, refused.body.error.code]).toEqual([403, "FORBIDDEN"]);
    expect((await api.post("/api/queue/pause")).body).toEqual({ queuePaused: true, changed: true });
    expect((await other.get("/api/status")).body.queuePaused).toBe(true);
    expect((await api.post("/api/queue/resume")).body).toEqual({ queuePaused: false, changed: true });

    // A running item is stopped by the worker, as the chat's Cancel button does.
    expect((await api.post("/api/items/1/cancel")).body).toMatchObject({ ok: true, did: "cancelled", item: { id: 1, status: "cancelled" } });
    expect(await findItem(h.app!.db, 3)).toMatchObject({ chatId: OTHER, status: expect.stringMatching(/queued|downloading|uploading|completed/) });

    // The file that describes all of it.
    const spec = await web.get("/api/openapi.json");
    expect(spec.status).toBe(200);
    expect(Object.keys(spec.body.paths).sort()).toEqual([
      "/api/events",
      "/api/items",
      "/api/items/batch",
      "/api/items/{id}",
      "/api/items/{id}/choice",
      "/api/items/{id}/{action}",
      "/api/queue/pause",
      "/api/queue/resume",
      "/api/session",
      "/api/status",
      "/healthz",
      "/metrics",
    ]);
  });

  it("a batch reports each id, a foreign one as not found, and touches nothing of the other chat", async () => {
    const { h, web } = await world();
    const api = web.withAuth(`Bearer ${await tokenFor(h, CHAT)}`);
    const other = web.withAuth(`Bearer ${await tokenFor(h, OTHER)}`);
    await api.post("/api/queue/pause");
    for (const name of ["a", "b"]) await api.post("/api/items", { url: h.files.addFile(`/${name}.bin`, FileServer.randomBytes(1000, name.charCodeAt(0))).url });
    await other.post("/api/items", { url: h.files.addFile("/c.bin", FileServer.randomBytes(1000, 9)).url });
    const before = await findItem(h.app!.db, 3);

    for (const [action, extra] of [["priority", { priority: "high" }], ["pause", {}], ["cancel", {}]] as const) {
      const batch = await api.post("/api/items/batch", { ids: [1, 3, 2, 3], action, ...extra });
      expect(batch.status).toBe(200);
      expect(batch.body.results.map((r: { id: number; ok: boolean; error?: { code: string } }) => [r.id, r.ok, r.error?.code])).toEqual([
        [1, true, undefined],
        [3, false, "NOT_FOUND"],
        [2, true, undefined],
      ]);
    }
    expect(await findItem(h.app!.db, 1)).toMatchObject({ status: "cancelled", priority: 10 });
    expect(await findItem(h.app!.db, 3)).toEqual(before);
    expect(before).toMatchObject({ chatId: OTHER, status: "queued", priority: 0 });
  });

  it("refuses malformed requests with 400 naming the field, and big bodies with 413", async () => {
    const { h, web } = await world();
    const api = web.withAuth(`Bearer ${await tokenFor(h, CHAT)}`);
    const cases: Array<[string, string, unknown, string]> = [
      ["POST", "/api/items", {}, "url"],
      ["POST", "/api/items", { url: "ftp://example.com/x" }, "url"],
      ["POST", "/api/items", { url: "https://example.com/a https://example.com/b" }, "url"],
      ["POST", "/api/items", { url: "https://example.com/a", priority: "urgent" }, "priority"],
      ["PATCH", "/api/items/1", { priority: 5 }, "priority"],
      ["POST", "/api/items/batch", { ids: [1, "x"], action: "cancel" }, "ids.1"],
      ["POST", "/api/items/batch", { ids: [1], action: "priority" }, "priority"],
      ["POST", "/api/items/batch", { ids: [], action: "cancel" }, "ids"],
      ["POST", "/api/items/batch", { ids: [1], action: "explode" }, "action"],
      ["POST", "/api/items/1/explode", undefined, "action"],
      ["GET", "/api/items/abc", undefined, "id"],
      ["GET", "/api/items?status=lost", undefined, "status"],
      ["POST", "/api/items/1/choice", { kind: "files", indices: [] }, "indices"],
      ["POST", "/api/items", "{not json", "body"],
    ];
    for (const [method, path, body, field] of cases) {
      const answer = await api.call(method, path, body);
      expect([method, path, answer.status, answer.body.error?.code, answer.body.error?.field]).toEqual([method, path, 400, "BAD_REQUEST", field]);
      expect(answer.body.error.message).toMatch(new RegExp(`^${field.replace(".", "\\.")}: `));
    }
    const big = await api.post("/api/items", { url: `https://example.com/${"a".repeat(20_000)}` });
    expect([big.status, big.body.error.code]).toEqual([413, "PAYLOAD_TOO_LARGE"]);
    // Without a token nothing is read at all, however malformed.
    expect((await web.post("/api/items", "{not json")).status).toBe(401);
    expect((await sql`select count(*) as n from items`.execute(h.app!.db)).rows).toEqual([{ n: 0 }]);
  });
});

describe("adding a link and following it", () => {
  it("POST /api/items queues in the token's chat and delivers there; the event stream shows started, progress and delivered in order", async () => {
    const { h, web } = await world();
    const api = web.withAuth(`Bearer ${await tokenFor(h, CHAT)}`);
    const other = web.withAuth(`Bearer ${await tokenFor(h, OTHER)}`);
    const file = h.files.addFile("/report.bin", FileServer.randomBytes(600_000, 5));
    h.files.throttle("/report.bin", 400_000);
    const stream = await api.events();
    const theirs = await other.events();
    expect(stream.status).toBe(200);
    expect(stream.response.headers.get("content-type")).toMatch(/^text\/event-stream/);

    const since = h.api.nextSeq;
    const added = await api.post("/api/items", { url: file.url });
    expect(added.status).toBe(201);
    const id = added.body.item.id as number;

    const upload = await h.upload(since);
    expect(upload.params.chat_id).toBe(CHAT);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    const delivered = await stream.next((e) => e.event === "delivered");
    expect(delivered.data).toMatchObject({ type: "delivered", chatId: CHAT, itemId: id, bytes: 600_000, files: 1, item: { status: "completed" } });
    expect(await findItem(h.app!.db, id)).toMatchObject({ chatId: CHAT, status: "completed" });

    const mine = stream.received.filter((e) => e.data.itemId === id).map((e) => e.event);
    expect(mine[0]).toBe("started");
    expect(mine.at(-1)).toBe("delivered");
    expect(mine.slice(1, -1).every((e) => e === "progress")).toBe(true);
    const progress = stream.received.filter((e) => e.event === "progress" && e.data.itemId === id);
    expect(progress.length).toBeGreaterThanOrEqual(1);
    const downloading = progress.filter((e) => e.data.transfer.phase === "downloading");
    expect(downloading[0]!.data.transfer).toMatchObject({ title: "report.bin", totalBytes: 600_000 });
    // Bytes only grow while it downloads, and at most one event a second per item.
    const bytes = downloading.map((e) => e.data.transfer.bytesDone as number);
    expect([...bytes].sort((a, b) => a - b)).toEqual(bytes);
    expect(progress.length).toBeLessThanOrEqual(5);
    // Nothing of this chat reaches another chat's stream.
    expect(theirs.received.filter((e) => e.data.chatId !== OTHER)).toEqual([]);

    // The same link again is the same answer as /download's.
    const duplicate = await api.post("/api/items", { url: file.url });
    expect([duplicate.status, duplicate.body.status, duplicate.body.item.id]).toEqual([200, "redelivered", id]);
    const missing = await api.post("/api/items", { url: `${h.files.baseUrl}/gone.bin` });
    expect([missing.status, missing.body.error.code, missing.body.error.reason.kind]).toEqual([422, "HTTP_PERMANENT", "httpStatus"]);
    stream.close();
    theirs.close();
  });
});

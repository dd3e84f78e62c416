import type { ChildProcess } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { listItems } from "../../src/db/item-repository.ts";
import { openDatabase } from "../../src/db/database.ts";
import { loadSegments } from "../../src/db/segment-repository.ts";
import { FileServer } from "../support/file-server.ts";
import { buildIfStale, endTest, type Running, startBot as startBotProcess, startProcess, writeConfig } from "../support/bot-process.ts";
import { CHAT, Harness, USER } from "../support/harness.ts";
import { joinedSha256, partNames } from "../support/parts.ts";

// What `npm start` does first: build the JavaScript when a source is newer than the last build.
beforeAll(buildIfStale, 120_000);

let h: Harness | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  h = await endTest(children, h);
});

const startBot = (harness: Harness, configFile: string): Promise<Running> => startBotProcess(harness, configFile, children);

describe("the bot process", () => {
  it("stops with exit code 2 and one clear line when the config is invalid or missing", async () => {
    h = await Harness.create();
    const bad = path.join(h.dataDir, "bad.json");
    await writeFile(bad, JSON.stringify({ botToken: "123:abc", allowedChatIds: [] }));
    const invalid = startProcess({ CONFIG_FILE: bad });
    const missing = startProcess({ CONFIG_FILE: path.join(h.dataDir, "nope.json") });
    children.push(invalid.child, missing.child);
    expect((await invalid.exited).code).toBe(2);
    expect(invalid.output().trim()).toBe(`Invalid config file ${bad}: "allowedChatIds": expected at least one chat id`);
    expect((await missing.exited).code).toBe(2);
    expect(missing.output().trim().split("\n")).toHaveLength(1);
    expect(missing.output()).toMatch(/copy config\.example\.json to config\.json/);
  });

  it("survives kill -9 mid-download: resumes with Range and uploads once", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/movie.bin", FileServer.randomBytes(1_500_000, 21));
    h.files.throttle("/movie.bin", 400_000);
    const config = await writeConfig(h);
    const first = await startBot(h, config);
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    await h.files.waitForBytes("/movie.bin", 500_000);
    first.child.kill("SIGKILL");
    await first.exited;

    const partial = path.join(h.dataDir, "downloads", "1", "movie.bin");
    expect(statSync(partial).size).toBeGreaterThanOrEqual(300_000);
    h.files.throttle("/movie.bin", null);
    await startBot(h, config);
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);

    const gets = h.files.requests.filter((r) => r.method === "GET");
    expect(gets).toHaveLength(2);
    expect(gets[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(gets[1]!.status).toBe(206);
    expect(h.uploads()).toHaveLength(1);
    // The progress message of the first run is the one the second run finished.
    expect(h.progressMessages(since)).toHaveLength(1);
  });

  it("survives kill -9 during a download over four connections: each part resumes from the bytes saved for it", async () => {
    h = await Harness.create({ uploadLimitBytes: 50 * 1024 * 1024 });
    const MB = 1024 * 1024;
    const file = h.files.addFile("/big.bin", FileServer.randomBytes(24 * MB, 22));
    h.files.throttle("/big.bin", MB);
    const config = await writeConfig(h);
    const first = await startBot(h, config);
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    // Three seconds into every part: the parts' progress has been saved (every second) a few times.
    await h.files.waitForProgress((r) => r.method === "GET" && r.range === undefined && r.bytesSent >= 3 * MB, { timeoutMs: 30_000 });
    for (const i of [1, 2, 3]) {
      await h.files.waitForProgress((r) => r.range?.startsWith(`bytes=${i * 6 * MB}-`) === true && r.bytesSent >= 3 * MB, { timeoutMs: 30_000 });
    }
    first.child.kill("SIGKILL");
    await first.exited;

    const saved = await h.withDb((db) => loadSegments(db, 1));
    expect(saved).toHaveLength(4);
    for (const s of saved) expect(s.done).toBeGreaterThanOrEqual(MB);

    h.files.throttle("/big.bin", null);
    const resumedFrom = h.files.nextSeq;
    await startBot(h, config);
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    const resumed = h.files.requests.filter((r) => r.method === "GET" && r.seq >= resumedFrom);
    expect(resumed.map((r) => r.range).sort()).toEqual(saved.map((s) => `bytes=${s.start + s.done}-${s.end - 1}`).sort());
    expect(h.uploads()).toHaveLength(1);
  });

  it("survives kill -9 while part 3 goes up and part 7 downloads: every part reaches the chat once, in order", async () => {
    const part = 256 * 1024;
    // Twelve byte parts: an album of ten, then one of two.
    h = await Harness.create({ uploadLimitBytes: part }, { maxUploadBytes: part });
    const body = FileServer.randomBytes(12 * part, 23);
    const file = h.files.addFile("/parts.bin", body);
    h.files.throttle("/parts.bin", 512 * 1024);
    const config = await writeConfig(h);
    const first = await startBot(h, config);
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    // The album went out while the file downloads: parts 1 and 2 are up, part 3 is on its way.
    await h.api.waitForUpload((f) => f.filename === "parts.bin.003" && f.size > 0, { timeoutMs: 30_000 });
    h.api.pauseUploads();
    await h.files.waitForProgress((r) => r.method === "GET" && r.bytesSent >= 6 * part + 1, { timeoutMs: 30_000 });
    expect(h.api.uploadsInFlight().map((f) => f.filename)).toEqual(["parts.bin.003"]);
    first.child.kill("SIGKILL");
    await first.exited;
    h.api.resumeUploads();
    expect(h.uploads()).toEqual([]);

    h.files.throttle("/parts.bin", null);
    await startBot(h, config);
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    const names = partNames("parts.bin", 12);
    expect(h.uploads().map((u) => u.method)).toEqual(["sendMediaGroup", "sendMediaGroup"]);
    expect(h.delivered().map((p) => p.filename)).toEqual(names);
    expect(await joinedSha256(h.delivered())).toBe(file.sha256);
    // The second run went on from the bytes the first one left (one connection: a Range request).
    const gets = h.files.requests.filter((r) => r.method === "GET");
    expect(gets).toHaveLength(2);
    expect(gets[1]!.range).toMatch(/^bytes=\d+-$/);
  });

  it("survives kill -9 after an album of parts went up mid-download: the next run sends only the parts not up yet", async () => {
    const part = 128 * 1024;
    // 22 byte parts: albums of 1-10, 11-20 and 21-22.
    h = await Harness.create({ uploadLimitBytes: part }, { maxUploadBytes: part });
    const file = h.files.addFile("/albums.bin", FileServer.randomBytes(22 * part, 25));
    h.files.throttle("/albums.bin", 512 * 1024);
    const config = await writeConfig(h);
    const first = await startBot(h, config);
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    await h.upload(since);
    await h.api.waitForUpload((f) => f.filename === "albums.bin.013" && f.size > 0, { timeoutMs: 30_000 });
    h.api.pauseUploads();
    await h.files.waitForProgress((r) => r.method === "GET" && r.bytesSent >= 16 * part + 1, { timeoutMs: 30_000 });
    first.child.kill("SIGKILL");
    await first.exited;
    h.api.resumeUploads();
    expect(h.delivered().map((p) => p.filename)).toHaveLength(10);

    h.files.throttle("/albums.bin", null);
    await startBot(h, config);
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    const names = partNames("albums.bin", 22);
    expect(h.uploads().map((u) => (u.params.media as unknown[]).length)).toEqual([10, 10, 2]);
    expect(h.delivered().map((p) => p.filename)).toEqual(names);
    // The second run went on from the bytes the first one left.
    const gets = h.files.requests.filter((r) => r.method === "GET");
    expect(gets).toHaveLength(2);
    expect(gets[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(await joinedSha256(h.delivered())).toBe(file.sha256);
  });

  it("does not upload twice when the upload was recorded before a crash", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/once.bin", FileServer.randomBytes(50_000, 22));
    const config = await writeConfig(h);
    const first = await startBot(h, config);
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    await h.upload(since);
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    first.child.kill("SIGKILL");
    await first.exited;
    const second = await startBot(h, config);
    // A later item is a barrier: the queue is oldest-first, so had the first item been picked up
    // again, it would have gone out before this one.
    const later = h.files.addFile("/later.bin", FileServer.randomBytes(10_000, 24));
    const since2 = h.api.nextSeq;
    h.send(`/download ${later.url}`);
    const laterUpload = await h.upload(since2);
    expect(laterUpload.files[0]!.sha256).toBe(later.sha256);
    expect(h.uploads().map((u) => u.files[0]!.sha256)).toEqual([file.sha256, later.sha256]);
    second.child.kill("SIGTERM");
    expect((await second.exited).code).toBe(0);
  });

  it("stops within a few seconds on SIGTERM, keeping the partial download for the next start", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/big.bin", FileServer.randomBytes(2_000_000, 23));
    h.files.throttle("/big.bin", 300_000);
    const config = await writeConfig(h);
    const running = await startBot(h, config);
    h.send(`/download ${file.url}`);
    await h.files.waitForBytes("/big.bin", 300_000);
    const stoppedAt = Date.now();
    running.child.kill("SIGTERM");
    const exit = await running.exited;
    expect(exit.code).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(5000);
    const partial = path.join(h.dataDir, "downloads", "1", "big.bin");
    expect(existsSync(partial)).toBe(true);
    // Every byte received is kept: the file holds what the item recorded at the stop, which is
    // more than nothing and no more than the server sent.
    const kept = statSync(partial).size;
    expect(kept).toBeGreaterThan(0);
    const [first] = h.files.requests.filter((r) => r.method === "GET");
    expect(kept).toBeLessThanOrEqual(first!.bytesSent);
    const db = openDatabase(path.join(h.dataDir, "bot.sqlite"));
    try {
      const [item] = await listItems(db);
      expect(item).toMatchObject({ status: "queued", attempts: 0, chatId: CHAT, bytesDone: kept });
    } finally {
      await db.destroy();
    }
    // The token never reached the log, which is one JSON object per line.
    const log = running.output();
    expect(log).not.toContain(h.api.token);
    expect(log).not.toContain(h.api.token.split(":")[1]);
    for (const line of log.trim().split("\n")) expect(() => JSON.parse(line)).not.toThrow();

    // The next start asks for the rest from exactly the bytes kept, and the file comes out whole.
    h.files.throttle("/big.bin", null);
    const resumedFrom = h.files.nextSeq;
    const since = h.api.nextSeq;
    await startBot(h, config);
    expect((await h.upload(since)).files[0]!.sha256).toBe(file.sha256);
    const resumed = h.files.requests.filter((r) => r.method === "GET" && r.seq >= resumedFrom);
    expect(resumed.map((r) => [r.range, r.status])).toEqual([[`bytes=${kept}-`, 206]]);
  });

  it("keeps its output JSON when a dependency prints: a malformed .torrent makes bencode console.trace", async () => {
    h = await Harness.create();
    const running = await startBot(h, await writeConfig(h));
    // A length no number can hold: bencode's encoder warns and prints a stack trace when it
    // hashes the info dictionary.
    const torrent = Buffer.from(`d4:infod6:lengthi${"9".repeat(400)}e4:name5:a.bin12:piece lengthi16384e6:pieces20:${"a".repeat(20)}ee`);
    const since = h.api.nextSeq;
    h.api.sendDocument(CHAT, { bytes: torrent, fileName: "odd.torrent" }, { fromId: USER });
    await h.reply(since);
    running.child.kill("SIGTERM");
    expect((await running.exited).code).toBe(0);
    expect(running.stderr()).toBe("");
    const lines = running.output().trim().split("\n").map((line) => JSON.parse(line) as { console?: string });
    expect(lines.filter((l) => l.console).map((l) => l.console)).toEqual(["warn", "trace"]);
  });

  it("loses nothing when killed while a pre-check is in flight: both links of the /download are delivered once after the restart", async () => {
    h = await Harness.create();
    const quick = h.files.addFile("/quick.bin", FileServer.randomBytes(30_000, 25));
    const slow = h.files.addFile("/held.bin", FileServer.randomBytes(30_000, 26));
    h.files.fault("/held.bin", { kind: "holdHead", times: 1 });
    const config = await writeConfig(h);
    const first = await startBot(h, config);
    const since = h.api.nextSeq;
    h.send(`/download ${quick.url} ${slow.url}`);
    await h.files.waitForHeldHead("/held.bin");
    first.child.kill("SIGKILL");
    await first.exited;

    await startBot(h, config);
    await h.api.waitForCall(() => h!.uploads().length === 2, { since });
    expect(h.uploads().map((u) => u.files[0]!.sha256).sort()).toEqual([quick.sha256, slow.sha256].sort());
    const db = openDatabase(path.join(h.dataDir, "bot.sqlite"));
    try {
      expect((await listItems(db)).map((i) => i.url).sort()).toEqual([quick.url, slow.url].sort());
    } finally {
      await db.destroy();
    }
    // The restarted bot answers the request it picked up again.
    expect(String((await h.reply(since, CHAT, /held\.bin/)).params.text)).toMatch(/^✓ Queued #\d+ <b>held\.bin<\/b>/);
    expect(h.uploads()).toHaveLength(2);
  });

  it("ends the start with one line naming the key to fix when Telegram refuses the token or apiRoot is unreachable", async () => {
    h = await Harness.create();
    // Each its own data directory: two processes must not migrate one database at once.
    const config = async (name: string, overrides: Record<string, unknown>) => {
      const dataDir = path.join(h!.dataDir, name);
      await mkdir(dataDir);
      const file = path.join(dataDir, "config.json");
      await writeFile(file, JSON.stringify({ ...h!.configInput, dataDir, ...overrides }));
      return file;
    };
    const wrongToken = startProcess({ CONFIG_FILE: await config("token.json", { botToken: "999:not-this-bots-token" }) });
    const noServer = startProcess({ CONFIG_FILE: await config("server.json", { apiRoot: "http://127.0.0.1:9" }) });
    children.push(wrongToken.child, noServer.child);
    expect((await wrongToken.exited).code).toBe(1);
    expect(wrongToken.stderr().trim().split("\n")).toEqual([
      "Could not start: botToken was rejected by Telegram (401 Unauthorized): copy the token @BotFather gave you into botToken (or BOT_TOKEN).",
    ]);
    expect((await noServer.exited).code).toBe(1);
    expect(noServer.stderr().trim().split("\n")).toHaveLength(1);
    expect(noServer.stderr().trim()).toBe("Could not start: apiRoot http://127.0.0.1:9 is unreachable: ECONNREFUSED. Check apiRoot and the server's network.");
    expect(noServer.output()).not.toContain(h.api.token);
  });
});

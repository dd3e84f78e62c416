import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import path from "node:path";
import parseTorrent from "parse-torrent";
import type { Torrent, Wire } from "webtorrent";
import { afterEach, describe, expect, it } from "vitest";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import createTorrent from "create-torrent";
import { tmpdir } from "node:os";
import parseTorrentId from "parse-torrent";
import { migrateToLatest, openDatabase } from "../../src/db/database.ts";
import { insertItem } from "../../src/db/item-repository.ts";
import { StopError } from "../../src/errors.ts";
import { createLogger } from "../../src/logger.ts";
import { createHttpClient } from "../../src/net/http-client.ts";
import type { SourceResult } from "../../src/sources/source.ts";
import { MAX_REQUESTS_PER_PEER, TorrentClientHolder } from "../../src/sources/torrent/torrent-client.ts";
import { TorrentSeeding } from "../../src/sources/torrent/torrent-seeding.ts";
import { createTorrentSource } from "../../src/sources/torrent/torrent-source.ts";
import { destroyTorrent } from "../../src/sources/torrent/torrent-store.ts";
import { encodeCallback } from "../../src/bot/keyboards.ts";
import { listItems } from "../../src/db/item-repository.ts";
import type { ConfigInput } from "../../src/config.ts";
import { FileServer } from "../support/file-server.ts";
import { CHAT, Harness, USER } from "../support/harness.ts";
import { TorrentSwarm, sha256 } from "../support/torrent-swarm.ts";

let h: Harness | undefined;
let swarm: TorrentSwarm | undefined;
afterEach(async () => {
  await h?.close();
  await swarm?.stop();
  h = undefined;
  swarm = undefined;
});

const LOOPBACK = { dht: false, lsd: false, natTraversal: false, maxFiles: 200, maxTrackers: 50 };

async function setUp(overrides: Partial<ConfigInput> = {}): Promise<{ h: Harness; swarm: TorrentSwarm }> {
  swarm = await TorrentSwarm.start();
  // These tests are about fetching and delivering: a multi-file torrent goes on without asking
  // which files (asking has its own tests, test/e2e/choose-files.test.ts).
  h = await Harness.create({ chooseTimeoutMs: 0, ...overrides });
  return { h, swarm };
}

/** Resolves once the seeder has sent at least `bytes` of this torrent. */
function uploadedAtLeast(torrent: Torrent, bytes: number): Promise<void> {
  if (torrent.uploaded >= bytes) return Promise.resolve();
  return new Promise((resolve) => {
    const onUpload = () => {
      if (torrent.uploaded < bytes) return;
      torrent.off("upload", onUpload);
      resolve();
    };
    torrent.on("upload", onUpload);
  });
}

/** Resolves once the seeder has no connection left for this torrent (the bot let go of it). */
async function noPeersLeft(torrent: Torrent, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  // webtorrent has no event for "last wire closed"; its wire count is cheap to look at.
  while (torrent.numPeers > 0) {
    if (Date.now() > until) throw new Error(`the seeder still has ${torrent.numPeers} peers`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("/torrent", () => {
  it("downloads a single-file magnet, uploads the same bytes, and lets go of the torrent", async () => {
    const { h, swarm } = await setUp();
    const seeded = await swarm.seed("movie.bin", [{ path: "movie.bin", bytes: FileServer.randomBytes(3_000_000, 21) }]);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/torrent ${seeded.magnetURI}`);

    const queued = await h.reply(since, CHAT, /Queued/);
    expect(String(queued.params.text)).toMatch(/^✓ Queued #1 <b>movie\.bin<\/b>: position 1 in the queue\.$/);
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(seeded.files[0]!.sha256);
    expect(upload.files[0]!.filename).toBe("movie.bin");
    expect(upload.params.caption).toBeUndefined();

    const progress = await h.progressMessageId(since);
    expect(await h.waitForText(progress, /delivered/, since)).toBe("✅ movie.bin: delivered (2.9 MB)");
    const [item] = await listItems(h.app!.db);
    expect(item).toMatchObject({ status: "completed", sourceKind: "torrent", sizeBytes: 3_000_000, attempts: 0 });
    expect(item!.url).toMatch(new RegExp(`^magnet:\\?xt=urn:btih:${seeded.infoHash}&`));
    expect(await readdir(path.join(h.dataDir, "downloads"))).toEqual([]);
    // Out of the client once delivered: the connection to the seeder closes, nothing seeds on.
    await noPeersLeft(seeded.torrent);
  });

  it("delivers every file of a multi-file torrent in order, captioned with its path, skipping those over the limit", async () => {
    const { h, swarm } = await setUp({ maxFileSizeBytes: 1_000_000 });
    const seeded = await swarm.seed("album", [
      { path: "cd1/01 intro.bin", bytes: FileServer.randomBytes(300_000, 31) },
      { path: "cd1/02 song.bin", bytes: FileServer.randomBytes(500_000, 32) },
      { path: "extras/big.iso", bytes: FileServer.randomBytes(1_500_000, 33) },
      { path: "notes.txt", bytes: Buffer.from("liner notes\n") },
    ]);
    const order = (await parseTorrent(seeded.torrentFile)).files!.map((f) => f.path);
    await h.start();
    const since = h.api.nextSeq;
    const request = h.send(`/torrent ${seeded.magnetURI}`);

    const skipped = await h.reply(since, CHAT, /Skipping/);
    expect(String(skipped.params.text)).toBe(
      "<b>album</b>\nSkipping 1 file over the 977 KB limit: album/extras/big.iso (1.4 MB).",
    );
    expect((skipped.params.reply_parameters as { message_id: number }).message_id).toBe(request);

    const uploads = [];
    let from = since;
    for (let i = 0; i < 3; i++) {
      const u = await h.upload(from);
      uploads.push(u);
      from = u.seq + 1;
    }
    const expected = order
      .filter((p) => !p.endsWith("big.iso"))
      .map((p) => seeded.files.find((f) => `album/${f.path}` === p)!);
    expect(uploads.map((u) => u.params.caption)).toEqual(expected.map((f) => `album/${f.path}`));
    expect(uploads.map((u) => u.files[0]!.sha256)).toEqual(expected.map((f) => f.sha256));
    expect(uploads.map((u) => u.files[0]!.filename)).toEqual(expected.map((f) => path.basename(f.path)));
    await h.waitForText(await h.progressMessageId(since), /delivered \(3 files, 781 KB\)/, since);
    // The big file was never asked for: the seeder sent little more than the three others.
    expect(seeded.torrent.uploaded).toBeLessThan(800_012 + 2 * 64 * 1024);
    expect(h.api.callsOf("sendMessage").filter((c) => /Skipping/.test(String(c.params.text)))).toHaveLength(1);
  });

  it("refuses a torrent whose files are all over the limit, listing the sizes", async () => {
    const { h, swarm } = await setUp({ maxFileSizeBytes: 100_000 });
    const seeded = await swarm.seed("big.bin", [{ path: "big.bin", bytes: FileServer.randomBytes(300_000, 41) }]);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/torrent ${seeded.magnetURI}`);
    const failure = await h.reply(since, CHAT, /failed/);
    expect(String(failure.params.text)).toBe(
      "❌ <b>big.bin</b>: failed: its file is over this bot's limit of 97.7 KB: big.bin (293 KB).",
    );
    const [item] = await listItems(h.app!.db);
    expect(item).toMatchObject({ status: "failed", errorCode: "TOO_LARGE", attempts: 1 });

    // As a .torrent file the sizes are known before queueing: refused at once, nothing stored.
    const next = h.api.nextSeq;
    h.api.sendDocument(CHAT, { bytes: seeded.torrentFile, fileName: "big.torrent" }, { fromId: USER });
    expect(String((await h.reply(next)).params.text)).toBe(
      "✗ big.torrent: its file is over this bot's limit of 97.7 KB: big.bin (293 KB).",
    );
    expect(await listItems(h.app!.db)).toHaveLength(1);
    expect(h.uploads()).toEqual([]);
  });

  it("queues a .torrent URL; /download takes a magnet, and hands a link serving a .torrent to the torrent handler", async () => {
    const { h, swarm } = await setUp();
    const first = await swarm.seed("first.bin", [{ path: "first.bin", bytes: FileServer.randomBytes(400_000, 51) }]);
    const second = await swarm.seed("second.bin", [{ path: "second.bin", bytes: FileServer.randomBytes(400_000, 52) }]);
    const third = await swarm.seed("third.bin", [{ path: "third.bin", bytes: FileServer.randomBytes(100_000, 53) }]);
    const byName = h.files.addFile("/t/first.torrent", first.torrentFile, { contentType: "application/x-bittorrent" });
    const byType = h.files.addFile("/get/2", second.torrentFile, { contentType: "application/x-bittorrent" });
    await h.start();

    let since = h.api.nextSeq;
    h.send(`/torrent ${byName.url}`);
    expect(String((await h.reply(since, CHAT, /Queued/)).params.text)).toMatch(/Queued #1 <b>first\.bin<\/b> \(391 KB\)/);
    const one = await h.upload(since);
    expect(one.files[0]!.sha256).toBe(first.files[0]!.sha256);

    since = h.api.nextSeq;
    h.send(`/download ${byType.url}`);
    const two = await h.upload(since);
    expect(two.files[0]!.sha256).toBe(second.files[0]!.sha256);
    expect(two.files[0]!.filename).toBe("second.bin");
    // The item may end within one edit interval: its live message then goes from the previous
    // item's line straight to its own (the newest state wins), so the delivered line is awaited.
    const delivered = await h.api.waitForCall((c) => c.method === "editMessageText" && /second\.bin<\/b>: delivered/.test(String(c.params.text)), { since });
    expect(h.textOf(Number(delivered.params.message_id))).toBe("✅ second.bin: delivered (391 KB)");
    const items = await listItems(h.app!.db);
    expect(items[1]!.url).toMatch(new RegExp(`^magnet:\\?xt=urn:btih:${second.infoHash}&`));

    since = h.api.nextSeq;
    h.send(`/download ${third.magnetURI}`);
    expect(String((await h.reply(since, CHAT, /Queued/)).params.text)).toMatch(/^✓ Queued #3 <b>third\.bin<\/b>: position 1 in the queue\.$/);
    expect((await h.upload(since)).files[0]!.sha256).toBe(third.files[0]!.sha256);
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    expect((await listItems(h.app!.db)).map((i) => [i.sourceKind, i.status, i.title])).toEqual([
      ["torrent", "completed", "first.bin"],
      ["torrent", "completed", "second.bin"],
      ["torrent", "completed", "third.bin"],
    ]);
  });

  it("gives up on a .torrent link whose server stalls, and gets it on the retry", async () => {
    // The stall limit of torrents is the longer of stallTimeoutMs (3 s here) and metadataTimeoutMs.
    const { h, swarm } = await setUp({ torrent: { metadataTimeoutMs: 1000 }, retryDelaysMs: [1000, 1000, 1000] });
    const seeded = await swarm.seed("slow.bin", [{ path: "slow.bin", bytes: FileServer.randomBytes(100_000, 56) }]);
    const link = h.files.addFile("/get/slow", seeded.torrentFile, { contentType: "application/x-bittorrent" });
    // The direct handler's look at the headers, then the torrent handler's fetch: that one stalls.
    h.files.fault("/get/slow", { kind: "stall", afterBytes: 100, times: 2 });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${link.url}`);
    const progress = await h.progressMessageId(since);
    await h.waitForText(progress, /attempt 1 of 4 failed/, since);
    expect((await h.upload(since)).files[0]!.sha256).toBe(seeded.files[0]!.sha256);
    await h.waitForText(progress, /delivered/, since);
    expect((await listItems(h.app!.db))[0]).toMatchObject({ status: "completed", attempts: 1 });
  });

  it("queues a .torrent file sent to the chat, with or without the /torrent caption", async () => {
    const { h, swarm } = await setUp();
    const plain = await swarm.seed("plain.bin", [{ path: "plain.bin", bytes: FileServer.randomBytes(200_000, 61) }]);
    const captioned = await swarm.seed("captioned.bin", [{ path: "captioned.bin", bytes: FileServer.randomBytes(200_000, 62) }]);
    await h.start();
    const since = h.api.nextSeq;
    h.api.sendDocument(CHAT, { bytes: plain.torrentFile, fileName: "plain.torrent" }, { fromId: USER });
    h.api.sendDocument(CHAT, { bytes: captioned.torrentFile, fileName: "captioned.torrent" }, { fromId: USER, caption: "/torrent" });
    h.api.sendDocument(CHAT, { bytes: Buffer.from("hello"), fileName: "notes.txt" }, { fromId: USER, caption: "/torrent" });

    expect(String((await h.reply(since, CHAT, /not a \.torrent/)).params.text)).toMatch(/^notes\.txt is not a \.torrent file\./);
    const first = await h.upload(since);
    const second = await h.upload(first.seq + 1);
    expect([first, second].map((u) => u.files[0]!.sha256).sort()).toEqual([plain.files[0]!.sha256, captioned.files[0]!.sha256].sort());
    expect(h.api.fileDownloads).toHaveLength(2);
    // Run back to back, the two share the chat's live message: the second's delivery ends it.
    await h.api.waitForCall((c) => c.method === "editMessageText" && /delivered/.test(String(c.params.text)), { since: second.seq + 1 });
    expect((await listItems(h.app!.db)).map((i) => [i.sourceKind, i.status])).toEqual([
      ["torrent", "completed"],
      ["torrent", "completed"],
    ]);
  });

  it("fails a torrent nobody seeds after the metadata timeout, with the retry schedule and a clear message", async () => {
    const { h, swarm } = await setUp({ torrent: { ...LOOPBACK, metadataTimeoutMs: 1500 }, retryDelaysMs: [1000] });
    await h.start();
    const since = h.api.nextSeq;
    const started = Date.now();
    h.send(`/torrent ${swarm.deadMagnet("lost.iso")}`);
    const progress = await h.progressMessageId(since);
    await h.waitForText(progress, /waiting for metadata\npeers: 0/, since);
    await h.waitForText(progress, /attempt 1 of 2 failed: dead torrent: no peers found in 2s/, since);
    const failure = await h.reply(since, CHAT, /failed/);
    expect(String(failure.params.text)).toBe("❌ <b>lost.iso</b>: failed: dead torrent: no peers found in 2s, so its metadata never arrived.");
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    const [item] = await listItems(h.app!.db);
    expect(item).toMatchObject({ status: "failed", errorCode: "DEAD_TORRENT", attempts: 2 });
  });

  it("after a restart mid-download, finishes from the pieces on disk", async () => {
    const { h, swarm } = await setUp();
    const size = 4_000_000;
    const seeded = await swarm.seed("resume.bin", [{ path: "resume.bin", bytes: FileServer.randomBytes(size, 71) }]);
    swarm.throttle(1_500_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/torrent ${seeded.magnetURI}`);
    const progress = await h.progressMessageId(since);
    await h.waitForText(progress, /peers: 1\n↓ .*\/s ↑ .*\/s/, since);
    await uploadedAtLeast(seeded.torrent, 2_000_000);
    await h.stopApp();
    const before = seeded.torrent.uploaded;
    expect(before).toBeLessThan(size);
    const db = openDatabase(path.join(h.dataDir, "bot.sqlite"));
    expect((await listItems(db))[0]).toMatchObject({ status: "queued", sizeBytes: size });
    await db.destroy();

    swarm.throttle(-1);
    const again = h.api.nextSeq;
    await h.start();
    const upload = await h.upload(again);
    expect(upload.files[0]!.sha256).toBe(seeded.files[0]!.sha256);
    // The second run fetched only what the first did not leave verified on disk.
    const second = seeded.torrent.uploaded - before;
    expect(second).toBeLessThan(size - 1_500_000);
    expect(seeded.torrent.uploaded).toBeLessThan(1.5 * size);
  });

  it("stops at once when cancelled, leaves the swarm and deletes what it had", async () => {
    const { h, swarm } = await setUp();
    const seeded = await swarm.seed("cancel.bin", [{ path: "cancel.bin", bytes: FileServer.randomBytes(3_000_000, 75) }]);
    swarm.throttle(500_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/torrent ${seeded.magnetURI}`);
    const progress = await h.progressMessageId(since);
    await h.waitForText(progress, /peers: 1/, since);
    await uploadedAtLeast(seeded.torrent, 300_000);
    const pressed = Date.now();
    h.api.pressButton(CHAT, progress, encodeCallback({ action: "cancel", itemId: 1 }));
    await h.waitForText(progress, /cancelled/, since);
    await noPeersLeft(seeded.torrent, 1000);
    expect(Date.now() - pressed).toBeLessThan(1500);
    expect((await listItems(h.app!.db))[0]).toMatchObject({ status: "cancelled" });
    expect(existsSync(path.join(h.dataDir, "downloads", "1"))).toBe(false);
    expect(h.uploads()).toEqual([]);
  });

  it("keeps hostile and odd names inside the item's directory and makes them safe for the upload", async () => {
    const { h, swarm } = await setUp();
    const hostile = await swarm.seedNamed("../../x", FileServer.randomBytes(150_000, 81));
    const odd = await swarm.seed("odd", [
      { path: "CON", bytes: FileServer.randomBytes(10_000, 82) },
      { path: "a:b?.txt", bytes: FileServer.randomBytes(10_000, 83) },
    ]);
    await h.start();
    h.api.pauseUploads();
    const since = h.api.nextSeq;
    h.send(`/torrent ${hostile.magnetURI}`);
    await h.api.waitForUploadBytes(1);
    // While its upload is held, the file sits in the item's directory, nowhere above it.
    expect(await readdir(path.join(h.dataDir, "downloads", "1"))).toEqual(["x"]);
    expect(existsSync(path.join(h.dataDir, "x"))).toBe(false);
    expect(existsSync(path.resolve(h.dataDir, "..", "x"))).toBe(false);
    h.api.resumeUploads();
    const upload = await h.upload(since);
    expect(upload.files[0]!.filename).toBe("x");
    expect(upload.files[0]!.sha256).toBe(hostile.files[0]!.sha256);

    const next = h.api.nextSeq;
    h.send(`/torrent ${odd.magnetURI}`);
    const first = await h.upload(next);
    const second = await h.upload(first.seq + 1);
    const byCaption = new Map([first, second].map((u) => [String(u.params.caption), u.files[0]!]));
    expect(byCaption.get("odd/CON")).toMatchObject({ filename: "_CON", sha256: odd.files[0]!.sha256 });
    expect(byCaption.get("odd/a:b?.txt")).toMatchObject({ filename: "a_b_.txt", sha256: odd.files[1]!.sha256 });
  });

  it("answers a bad argument with what a valid one is", async () => {
    const { h } = await setUp();
    await h.start();
    let since = h.api.nextSeq;
    h.send("/torrent");
    expect(String((await h.reply(since)).params.text)).toMatch(/^No magnet link or \.torrent URL given\.\nSend <code>\/torrent magnet:/);
    since = h.api.nextSeq;
    h.send("/torrent magnet:?xt=urn:btih:nothex");
    expect(String((await h.reply(since)).params.text)).toMatch(/that magnet link is not valid \(no BitTorrent info hash\)/);
    expect(await listItems(h.app!.db)).toEqual([]);
  });
});

describe("torrent.seed", () => {
  it("keeps seeding a delivered torrent from its own directory when seed is on", async () => {
    // One torrent key set: the harness keeps DHT, LSD and port mapping off all the same.
    const { h, swarm } = await setUp({ torrent: { seed: true } });
    expect(h.config.torrent).toMatchObject({ dht: false, lsd: false, natTraversal: false, seed: true });
    const seeded = await swarm.seed("share.bin", [{ path: "share.bin", bytes: FileServer.randomBytes(500_000, 101) }]);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/torrent ${seeded.magnetURI}`);
    expect((await h.upload(since)).files[0]!.sha256).toBe(seeded.files[0]!.sha256);
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    // The original seeder leaves: whoever downloads now gets the bytes from the bot.
    await new Promise<void>((resolve) => seeded.torrent.destroy(null, () => resolve()));
    const [bytes] = await swarm.leech(seeded.magnetURI);
    expect(sha256(bytes!)).toBe(seeded.files[0]!.sha256);
    expect(await readdir(path.join(h.dataDir, "downloads"))).toEqual([]);
    expect(await readdir(path.join(h.dataDir, "seeding", seeded.infoHash))).toEqual(["share.bin"]);
  });
});

describe("TorrentSeeding", () => {
  it("keeps seeding a torrent delivered again, whatever the timer of its earlier seeding does", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "dlbot-seeding-"));
    const logger = createLogger({ level: "silent", secrets: [] });
    // No tracker at all: this client talks to nobody.
    const clients = new TorrentClientHolder({ torrent: { ...LOOPBACK, metadataTimeoutMs: 1000, seed: true }, policy: { allowPrivate: true }, logger });
    const seeding = new TorrentSeeding({ dir: path.join(dir, "seeding"), clients, logger, checkEveryMs: 250 });
    try {
      const bytes = FileServer.randomBytes(100_000, 121);
      const metainfo = await new Promise<Buffer>((resolve, reject) =>
        createTorrent(bytes, { name: "again.bin", announce: [], pieceLength: 16 * 1024 }, (err, buf) => (err ? reject(err) : resolve(Buffer.from(buf)))),
      );
      const infoHash = (await parseTorrent(metainfo)).infoHash;
      const fromDir = path.join(dir, "item");
      await mkdir(fromDir);
      await writeFile(path.join(fromDir, "again.bin"), bytes);
      const request = { infoHash, metainfo, fromDir, files: [{ index: 0, path: "again.bin" }], bytes: bytes.length };

      await seeding.start(request);
      // Queued again and downloaded: the handler takes the seeding torrent out of the client first,
      // and the new copy goes on seeding once delivered.
      await destroyTorrent((await (await clients.get()).get(infoHash))!);
      await seeding.start(request);
      // Nothing to wait for but the earlier seeding's timer: give it a few periods.
      await new Promise((r) => setTimeout(r, 800));
      expect(seeding.isSeeding(infoHash)).toBe(true);
      expect(await readdir(path.join(dir, "seeding", infoHash))).toEqual(["again.bin"]);
    } finally {
      seeding.close();
      await clients.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("torrents and private networks", () => {
  it("with allowPrivateNetworks off, contacts neither a loopback tracker nor a loopback peer", async () => {
    const { h, swarm } = await setUp({ allowPrivateNetworks: false, torrent: { ...LOOPBACK, metadataTimeoutMs: 1000 }, retryDelaysMs: [] });
    const seeded = await swarm.seed("near.bin", [{ path: "near.bin", bytes: FileServer.randomBytes(50_000, 91) }]);
    const port = swarm.seeder.address()!.port;
    let wires = 0;
    seeded.torrent.on("wire", () => wires++);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/torrent ${seeded.magnetURI}&x.pe=127.0.0.1:${port}`);
    const failure = await h.reply(since, CHAT, /failed/);
    expect(String(failure.params.text)).toMatch(/dead torrent: no peers found/);
    expect(wires).toBe(0);
    // The tracker on 127.0.0.1 heard from the seeder only: the bot dropped it before adding the torrent.
    expect(swarm.announcedPorts.filter((p) => p !== port)).toEqual([]);
  });
});

describe("the torrent handler, driven directly", () => {
  /** The handler with its own client, database and item, outside the worker. */
  async function handler(magnet: string, opts: { maxBytes?: number; metadataTimeoutMs?: number } = {}) {
    const dir = await mkdtemp(path.join(tmpdir(), "dlbot-src-"));
    const db = openDatabase(path.join(dir, "bot.sqlite"));
    await migrateToLatest(db);
    const logger = createLogger({ level: "silent", secrets: [] });
    const policy = { allowPrivate: true };
    const clients = new TorrentClientHolder({
      torrent: { ...LOOPBACK, metadataTimeoutMs: 60_000, seed: false },
      policy,
      logger,
    });
    const source = createTorrentSource({
      db,
      clients,
      http: createHttpClient({ allowPrivateNetworks: true }),
      policy,
      metadataTimeoutMs: opts.metadataTimeoutMs ?? 60_000,
      stallTimeoutMs: 60_000,
      maxFiles: 200,
      maxTrackers: 50,
    });
    const inserted = await insertItem(db, { chatId: CHAT, userId: USER, url: magnet, sourceKind: "torrent", title: "t", sizeBytes: null }, Date.now());
    if (!inserted.inserted) throw new Error("not inserted");
    const controller = new AbortController();
    const run = (): Promise<SourceResult> =>
      source.download({
        item: inserted.item,
        dir: path.join(dir, "item"),
        signal: controller.signal,
        maxBytes: opts.maxBytes ?? 100_000_000,
        logger,
        progress: () => {},
        checkpoint: async () => {},
        segments: { load: async () => [], save: async () => {}, clear: async () => {} },
        enqueue: () => Promise.reject(new Error("a torrent queues nothing")),
        findOpen: async () => undefined,
        notice: async () => {},
        ensureDiskRoom: async () => {},
      });
    const close = async () => {
      await clients.destroy();
      await db.destroy();
      await rm(dir, { recursive: true, force: true });
    };
    return { clients, controller, run, close };
  }

  /** A handler's attempt, settled: its result or what it threw. */
  function settled(p: Promise<SourceResult>): Promise<unknown> {
    return p.then(
      (r) => r,
      (e: unknown) => e,
    );
  }

  /** How an attempt ended within `ms` from now, or "still running". */
  function outcome(ended: Promise<unknown>, ms: number): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([ended, new Promise((r) => (timer = setTimeout(() => r("still running"), ms)))]).finally(() => clearTimeout(timer));
  }

  it("fails the attempt, to be retried, when the client drops the torrent (it destroys itself after a DHT or socket error)", async () => {
    swarm = await TorrentSwarm.start();
    const seeded = await swarm.seed("drop.bin", [{ path: "drop.bin", bytes: FileServer.randomBytes(2_000_000, 111) }]);
    swarm.throttle(300_000);
    const w = await handler(seeded.magnetURI);
    try {
      const attempt = settled(w.run());
      await uploadedAtLeast(seeded.torrent, 100_000);
      const client = await w.clients.get();
      await new Promise<void>((resolve) => client.destroy(() => resolve()));
      expect(await outcome(attempt, 3000)).toMatchObject({ code: "TORRENT_FAILED", retryable: true });
    } finally {
      await w.close();
    }
  });

  it("honours a cancel that comes while a leftover of the same torrent leaves the client", async () => {
    swarm = await TorrentSwarm.start();
    const magnet = swarm.deadMagnet("leftover");
    const w = await handler(magnet, { metadataTimeoutMs: 5000 });
    try {
      const leftover = (await w.clients.get()).add(await parseTorrentId(magnet), { path: tmpdir(), deselect: true });
      leftover.on("error", () => {});
      leftover.once("close", () => w.controller.abort(new StopError("cancel")));
      const ended = await outcome(settled(w.run()), 3000);
      expect(ended).toBeInstanceOf(StopError);
      expect((ended as StopError).stop).toBe("cancel");
      expect((await w.clients.get()).torrents).toEqual([]);
    } finally {
      await w.close();
    }
  });

  it("keeps at most MAX_REQUESTS_PER_PEER block requests open with a peer, where webtorrent would ask for a second's worth", async () => {
    swarm = await TorrentSwarm.start();
    const bytes = FileServer.randomBytes(24_000_000, 113);
    const seeded = await swarm.seed("fast.bin", [{ path: "fast.bin", bytes }]);
    // What the seeder holds unanswered: at most what the bot asked for and has not got.
    let most = 0;
    seeded.torrent.on("wire", (wire: Wire & { peerRequests: unknown[] }) => {
      wire.on("request", () => (most = Math.max(most, wire.peerRequests.length)));
    });
    const w = await handler(seeded.magnetURI);
    try {
      const result = await w.run();
      expect(result.kind).toBe("files");
      if (result.kind === "files") expect(sha256(await readFile(result.files[0]!.path))).toBe(sha256(bytes));
      expect(most).toBeLessThanOrEqual(MAX_REQUESTS_PER_PEER);
      // The limit was reached: on loopback webtorrent alone keeps thousands open.
      expect(most).toBeGreaterThan(MAX_REQUESTS_PER_PEER / 2);
    } finally {
      await w.close();
    }
  });

  it("takes a torrent whose files are all too large out of the client", async () => {
    swarm = await TorrentSwarm.start();
    const seeded = await swarm.seed("large.bin", [{ path: "large.bin", bytes: FileServer.randomBytes(200_000, 112) }]);
    const w = await handler(seeded.magnetURI, { maxBytes: 100_000 });
    try {
      expect(await outcome(settled(w.run()), 5000)).toMatchObject({ code: "TOO_LARGE" });
      expect((await w.clients.get()).torrents).toEqual([]);
      await noPeersLeft(seeded.torrent);
    } finally {
      await w.close();
    }
  });
});

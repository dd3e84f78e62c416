import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { updateChatSettings } from "../../src/db/chat-settings-repository.ts";
import { FileServer } from "../support/file-server.ts";
import { CheckRecorder, ManualClock } from "../support/clock.ts";
import { listItems } from "../../src/db/item-repository.ts";
import { TorrentSwarm } from "../support/torrent-swarm.ts";
import { CHAT, Harness, messageIdOf } from "../support/harness.ts";
import { playableMp4 } from "../support/media.ts";
import type { RecordedCall } from "../support/bot-api-double.ts";

/**
 * Subscriptions end to end: a loopback feed server (the test file server), the real feed parser,
 * a real SQLite file, the real bot polling the Bot API double, and the scheduler on a clock the
 * test moves (no sleeps: the test waits for the check or the upload it expects).
 */

const HOUR = 60 * 60_000;
const OTHER_CHAT = 1002;

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

interface FeedItem {
  title: string;
  guid: string;
  /** Minutes before the clock's start. */
  ago: number;
  enclosure?: { url: string; type: string; length?: number };
  link?: string;
}

/** An RSS 2.0 feed (with the iTunes namespace podcasts use), newest item first as feeds list them. */
function rss(items: FeedItem[], start: number, title = "The Feed"): Buffer {
  const sorted = [...items].sort((a, b) => a.ago - b.ago);
  const body = sorted
    .map(
      (i) => `<item><title>${i.title}</title><guid isPermaLink="false">${i.guid}</guid><pubDate>${new Date(start - i.ago * 60_000).toUTCString()}</pubDate>${
        i.enclosure ? `<enclosure url="${i.enclosure.url}" type="${i.enclosure.type}" length="${i.enclosure.length ?? 0}"/>` : ""
      }${i.link ? `<link>${i.link}</link>` : ""}<itunes:duration>60</itunes:duration></item>`,
    )
    .join("\n");
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel><title>${title}</title><link>https://example.invalid/</link>\n${body}\n</channel></rss>\n`,
  );
}

/** Files whose sha256 tells which arrived: one per episode. */
function episodes(harness: Harness, names: string[], seed: number): Map<string, { url: string; sha256: string }> {
  return new Map(names.map((name, i) => [name, harness.files.addFile(`/media/${name}.zip`, FileServer.randomBytes(2_000 + i * 10, seed + i))]));
}

function serveFeed(harness: Harness, items: FeedItem[], start: number, title?: string): string {
  return harness.files.addFile("/feed.xml", rss(items, start, title), { contentType: "application/rss+xml; charset=utf-8" }).url;
}

/** The uploads after `since`, in order, as the sha256 of their file. */
function uploadedHashes(harness: Harness, since = 0): string[] {
  return harness.uploads().filter((c) => c.seq >= since).map((c) => c.files[0]!.sha256);
}

async function uploadsAfter(harness: Harness, since: number, count: number): Promise<RecordedCall[]> {
  const out: RecordedCall[] = [];
  let from = since;
  for (let i = 0; i < count; i++) {
    const call = await harness.upload(from);
    out.push(call);
    from = call.seq + 1;
  }
  return out;
}

/** The bot's text (sent or edited into) in a chat that matches, after `since`. */
function says(harness: Harness, since: number, match: RegExp, chatId = CHAT): Promise<RecordedCall> {
  return harness.api.waitForCall(
    (c) => (c.method === "sendMessage" || c.method === "editMessageText") && c.params.chat_id === chatId && c.response?.ok === true && match.test(String(c.params.text)),
    { since, timeoutMs: 30_000 },
  );
}

/** The bot's messages (sent, not edits) in the chat matching, so far. */
function sent(harness: Harness, match: RegExp, chatId = CHAT): string[] {
  return harness.api.calls
    .filter((c) => c.method === "sendMessage" && c.params.chat_id === chatId && c.response?.ok === true && match.test(String(c.params.text)))
    .map((c) => String(c.params.text));
}

async function entryRows(harness: Harness): Promise<Array<{ entry_key: string; outcome: string; item_id: number | null }>> {
  return harness.withDb((db) => db.selectFrom("subscription_entries").select(["entry_key", "outcome", "item_id"]).orderBy("seen_at").orderBy("entry_key").execute());
}

describe("subscriptions", () => {
  it("an RSS feed of three, /watch last 1: the newest is delivered; two new ones after the interval: exactly those, in order", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    const clock = new ManualClock();
    const checks = new CheckRecorder();
    const start = clock.now();
    const files = episodes(h, ["e1", "e2", "e3", "e4", "e5"], 10);
    const item = (n: number, ago: number): FeedItem => ({ title: `Episode ${n}`, guid: `ep-${n}`, ago, enclosure: { url: `${h!.files.baseUrl}/media/e${n}.zip`, type: "application/zip" } });
    const feed = serveFeed(h, [item(1, 300), item(2, 200), item(3, 100)], start);
    await h.start({ subscriptions: { clock, onCheck: checks.listener } });

    const since = h.api.nextSeq;
    h.send(`/watch ${feed} last 1`);
    const answer = await says(h, since, /the newest 1 queued/);
    expect(String(answer.params.text)).toMatch(/^👀 Watching #1 <b>The Feed<\/b> \(feed\), every 1 h: 3 entries there now, the newest 1 queued; next check in 1 h\.$/);
    const [first] = await uploadsAfter(h, since, 1);
    expect(first!.files[0]!.sha256).toBe(files.get("e3")!.sha256);
    // Delivered under the episode's title, with the file's own extension.
    expect(first!.files[0]!.filename).toBe("Episode 3.zip");

    serveFeed(h, [item(1, 300), item(2, 200), item(3, 100), item(4, -10), item(5, -20)], start);
    const later = h.api.nextSeq;
    expect(checks.events[0]!.subscription.nextCheckAt - checks.events[0]!.subscription.checkedAt!).toBe(HOUR);
    clock.advance(HOUR + 60_000);
    const second = await checks.next(1);
    expect(second.result).toMatchObject({ kind: "ok", first: false, found: 5, fresh: 2, queued: 2 });
    const delivered = await uploadsAfter(h, later, 2);
    expect(delivered.map((c) => c.files[0]!.sha256)).toEqual([files.get("e4")!.sha256, files.get("e5")!.sha256]);
    expect(uploadedHashes(h)).toHaveLength(3);
    expect((await entryRows(h)).map((r) => [r.entry_key, r.outcome])).toEqual([
      ["ep-1", "baseline"], ["ep-2", "baseline"], ["ep-3", "queued"], ["ep-4", "queued"], ["ep-5", "queued"],
    ]);
  });

  it("a torrent feed whose entries are magnet links: the newest is queued as /torrent queues it, and delivered from a loopback seeder", { timeout: 60_000 }, async () => {
    const swarm = await TorrentSwarm.start();
    try {
      h = await Harness.create({ torrent: { dht: false, lsd: false, natTraversal: false } });
      const clock = new ManualClock();
      const start = clock.now();
      const old = await swarm.seed("old.bin", [{ path: "old.bin", bytes: FileServer.randomBytes(50_000, 71) }]);
      const fresh = await swarm.seed("new.bin", [{ path: "new.bin", bytes: FileServer.randomBytes(60_000, 72) }]);
      const feed = serveFeed(h, [
        { title: "Old release", guid: "t-1", ago: 200, link: old.magnetURI.replace(/&/g, "&amp;") },
        { title: "New release", guid: "t-2", ago: 100, link: fresh.magnetURI.replace(/&/g, "&amp;") },
      ], start);
      await h.start({ subscriptions: { clock } });
      const since = h.api.nextSeq;
      h.send(`/watch ${feed} last 1`);
      const [upload] = await uploadsAfter(h, since, 1);
      expect(upload!.files[0]!.sha256).toBe(fresh.files[0]!.sha256);
      expect((await entryRows(h)).map((r) => [r.entry_key, r.outcome])).toEqual([["t-1", "baseline"], ["t-2", "queued"]]);
      expect((await listItems(h.app!.db)).map((i) => [i.sourceKind, i.url.startsWith(`magnet:?xt=urn:btih:${fresh.infoHash}`)])).toEqual([["torrent", true]]);
    } finally {
      await swarm.stop();
    }
  });

  it("delivers a podcast feed's enclosure as audio named after the episode", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dlbot-pod-"));
    try {
      // An MP3 without tags of its own: what the chat shows comes from the feed.
      execFileSync("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "libmp3lame", "-q:a", "6", "-map_metadata", "-1", path.join(dir, "a.mp3")]);
      h = await Harness.create();
      const clock = new ManualClock();
      const mp3 = h.files.addFile("/pod/audio-0002.mp3", readFileSync(path.join(dir, "a.mp3")), { contentType: "audio/mpeg" });
      h.files.addFile("/pod/audio-0001.mp3", readFileSync(path.join(dir, "a.mp3")), { contentType: "audio/mpeg" });
      const feed = serveFeed(
        h,
        [
          { title: "The First Episode", guid: "pod-1", ago: 2000, enclosure: { url: "/pod/audio-0001.mp3", type: "audio/mpeg" } },
          { title: "The Second Episode", guid: "pod-2", ago: 1000, enclosure: { url: "/pod/audio-0002.mp3", type: "audio/mpeg" } },
        ],
        clock.now(),
        "A Podcast",
      );
      await h.start({ subscriptions: { clock } });
      const since = h.api.nextSeq;
      h.send(`/watch ${feed} last 1`);
      const [upload] = await uploadsAfter(h, since, 1);
      expect(upload!.method).toBe("sendAudio");
      expect(upload!.files[0]).toMatchObject({ filename: "The Second Episode.mp3", sha256: mp3.sha256 });
      expect(upload!.params.duration).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("puts each entry through a pasted link's checks and the chat's settings: the size limit, the quality cap (here: only the audio)", { timeout: 60_000 }, async () => {
    h = await Harness.create({ maxFileSizeBytes: 100_000 });
    const clock = new ManualClock();
    const checks = new CheckRecorder();
    const start = clock.now();
    const video = h.files.addFile("/v/five.mp4", playableMp4(5), { contentType: "video/mp4" });
    h.files.addFile("/v/huge.zip", FileServer.randomBytes(200_000, 7), { contentType: "application/zip" });
    const feed = serveFeed(h, [{ title: "Old", guid: "old", ago: 50, link: `${h.files.baseUrl}/nowhere.html` }], start);
    await h.start({ subscriptions: { clock, onCheck: checks.listener } });
    await h.withDb((db) => updateChatSettings(db, CHAT, { qualityCap: "audio" }, Date.now()));
    h.send(`/watch ${feed}`);
    await checks.next(0);
    serveFeed(h, [
      { title: "Old", guid: "old", ago: 50, link: `${h.files.baseUrl}/nowhere.html` },
      { title: "Too Big", guid: "big", ago: 20, enclosure: { url: "/v/huge.zip", type: "application/zip" } },
      { title: "Video Five", guid: "five", ago: 10, enclosure: { url: video.url, type: "video/mp4" } },
    ], start);
    clock.advance(HOUR + 60_000);
    expect((await checks.next(1)).result).toMatchObject({ kind: "ok", fresh: 2, queued: 1, refused: 1 });
    const [audio] = await uploadsAfter(h, 0, 1);
    expect(audio!.method).toBe("sendAudio");
    expect(audio!.files[0]!.filename).toBe("Video Five.m4a");
    expect(h.files.requests.some((r) => r.path === "/v/huge.zip" && r.method === "GET" && r.bytesSent > 1)).toBe(false);
    expect((await entryRows(h)).map((r) => [r.entry_key, r.outcome])).toEqual([["old", "baseline"], ["big", "refused"], ["five", "queued"]]);
  });

  it("match and exclude decide which entries are queued, at the first check and after", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    const clock = new ManualClock();
    const checks = new CheckRecorder();
    const start = clock.now();
    const titles = ["Episode 1", "Episode 1 trailer", "Making of", "Épisode 2", "Episode 3 TRAILER", "Bonus talk", "Ep 4"];
    const files = episodes(h, titles.map((_, i) => `f${i}`), 40);
    const item = (i: number, ago: number): FeedItem => ({ title: titles[i]!, guid: `g${i}`, ago, enclosure: { url: files.get(`f${i}`)!.url, type: "application/zip" } });
    const feed = serveFeed(h, [item(0, 30), item(1, 20), item(2, 10)], start);
    await h.start({ subscriptions: { clock, onCheck: checks.listener } });
    const since = h.api.nextSeq;
    h.send(`/watch ${feed} match episode exclude trailer last 10`);
    await checks.next(0);
    await uploadsAfter(h, since, 1);

    serveFeed(h, [0, 1, 2, 3, 4, 5].map((i) => item(i, 30 - 10 * i)), start);
    clock.advance(HOUR + 60_000);
    expect((await checks.next(1)).result).toMatchObject({ kind: "ok", fresh: 3, queued: 1, filtered: 2 });
    await uploadsAfter(h, since, 2);

    // A regular expression instead of words: /watch of the same URL changes the filter.
    const again = h.api.nextSeq;
    h.send(`/watch ${feed} match /^ep(isode)? \\d+$/ exclude nothing`);
    expect(String((await says(h, again, /updated/)).params.text)).toMatch(/^✏️ #1 <b>The Feed<\/b> updated: every 1 h, match <code>\/\^ep\(isode\)\? \\d\+\$\/<\/code>, exclude <code>nothing<\/code>/);
    serveFeed(h, [0, 1, 2, 3, 4, 5, 6].map((i) => item(i, 30 - 10 * i)), start);
    clock.advance(HOUR + 60_000);
    expect((await checks.next(2)).result).toMatchObject({ kind: "ok", fresh: 1, queued: 1 });
    await uploadsAfter(h, since, 3);
    expect(uploadedHashes(h)).toEqual(["f0", "f3", "f6"].map((f) => files.get(f)!.sha256));
    expect(await h.withDb((db) => db.selectFrom("subscriptions").select("id").execute())).toHaveLength(1);
  });

  it("a restart between checks, and a check due while the bot is down, queue nothing twice and miss nothing", { timeout: 90_000 }, async () => {
    h = await Harness.create();
    const clock = new ManualClock();
    const checks = new CheckRecorder();
    const start = clock.now();
    const files = episodes(h, ["r1", "r2", "r3", "r4"], 60);
    const item = (n: number, ago: number): FeedItem => ({ title: `Part ${n}`, guid: `r${n}`, ago, enclosure: { url: files.get(`r${n}`)!.url, type: "application/zip" } });
    const feed = serveFeed(h, [item(1, 20), item(2, 10)], start);
    const options = { subscriptions: { clock, onCheck: checks.listener } };
    await h.start(options);
    h.send(`/watch ${feed}`);
    expect((await checks.next(0)).result).toMatchObject({ kind: "ok", first: true, found: 2, queued: 0 });

    // A new entry, and a restart before the check is due: the restart checks nothing.
    serveFeed(h, [item(1, 20), item(2, 10), item(3, 0)], start);
    await h.stopApp();
    const feedReads = () => h!.files.requests.filter((r) => r.path === "/feed.xml").length;
    const readsBefore = feedReads();
    await h.start(options);
    clock.advance(HOUR + 60_000);
    expect((await checks.next(1)).result).toMatchObject({ kind: "ok", queued: 1 });
    expect(feedReads()).toBe(readsBefore + 1);
    const [third] = await uploadsAfter(h, 0, 1);
    expect(third!.files[0]!.sha256).toBe(files.get("r3")!.sha256);
    const since = third!.seq + 1;

    // Down while the next check falls due (and a fourth entry comes): it runs at the start.
    await h.stopApp();
    serveFeed(h, [item(1, 20), item(2, 10), item(3, 0), item(4, -30)], start);
    clock.advance(2 * HOUR);
    await h.start(options);
    expect((await checks.next(2)).result).toMatchObject({ kind: "ok", queued: 1, fresh: 1 });
    await uploadsAfter(h, since, 1);

    // Checked again by hand, after yet another restart: nothing new, nothing twice.
    await h.stopApp();
    await h.start(options);
    const asked = h.api.nextSeq;
    h.send("/check 1");
    expect(String((await says(h, asked, /nothing new/)).params.text)).toMatch(/^🔎 #1 <b>The Feed<\/b>: nothing new; next check in 1 h\.$/);
    expect(uploadedHashes(h)).toEqual([files.get("r3")!.sha256, files.get("r4")!.sha256]);
    expect((await entryRows(h)).map((r) => [r.entry_key, r.outcome])).toEqual([["r1", "baseline"], ["r2", "baseline"], ["r3", "queued"], ["r4", "queued"]]);
    expect(await h.withDb((db) => db.selectFrom("items").select("id").execute())).toHaveLength(2);
  });

  it("/check while that check runs joins it instead of checking twice", { timeout: 60_000 }, async () => {
    h = await Harness.create({ stallTimeoutMs: 20_000 });
    const clock = new ManualClock();
    const checks = new CheckRecorder();
    const start = clock.now();
    const files = episodes(h, ["c1", "c2"], 80);
    const item = (n: number, ago: number): FeedItem => ({ title: `Clip ${n}`, guid: `c${n}`, ago, enclosure: { url: files.get(`c${n}`)!.url, type: "application/zip" } });
    const feed = serveFeed(h, [item(1, 10)], start);
    await h.start({ subscriptions: { clock, onCheck: checks.listener } });
    h.send(`/watch ${feed}`);
    await checks.next(0);

    serveFeed(h, [item(1, 10), item(2, 0)], start);
    h.files.fault("/feed.xml", { kind: "stall", afterBytes: 20, times: 1 });
    const reads = h.files.nextSeq;
    clock.advance(HOUR + 60_000);
    await h.files.waitForProgress((r) => r.path === "/feed.xml" && r.seq >= reads && r.state === "stalled");
    const since = h.api.nextSeq;
    h.send("/check 1");
    const firstAck = await says(h, since, /is being checked right now/);
    h.send("/check #1");
    const secondAck = await says(h, firstAck.seq + 1, /is being checked right now/);
    h.files.releaseStalls("/feed.xml");
    const firstAnswer = await says(h, since, /1 new queued/);
    const secondAnswer = await says(h, firstAnswer.seq + 1, /1 new queued/);
    // Each /check's own message, edited into the one check's outcome.
    expect([firstAnswer, secondAnswer].map((a) => a.params.message_id).sort()).toEqual([messageIdOf(firstAck), messageIdOf(secondAck)].sort());
    expect([firstAnswer, secondAnswer].map((a) => String(a.params.text))).toEqual(Array(2).fill("🔎 #1 <b>The Feed</b>: 1 new queued; next check in 1 h."));
    expect(h.files.requests.filter((r) => r.path === "/feed.xml" && r.seq >= reads)).toHaveLength(1);
    expect(checks.events).toHaveLength(2);
    await uploadsAfter(h, since, 1);
    expect(uploadedHashes(h)).toEqual([files.get("c2")!.sha256]);
  });

  it("three failed checks in a row give one message, and it working again one more", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    const clock = new ManualClock();
    const checks = new CheckRecorder();
    const start = clock.now();
    const files = episodes(h, ["k1", "k2"], 90);
    const item = (n: number, ago: number): FeedItem => ({ title: `Talk ${n}`, guid: `k${n}`, ago, enclosure: { url: files.get(`k${n}`)!.url, type: "application/zip" } });
    const feed = serveFeed(h, [item(1, 10)], start);
    await h.start({ subscriptions: { clock, onCheck: checks.listener } });
    h.send(`/watch ${feed}`);
    await checks.next(0);

    // A server error, then XML that is not valid, then a 404: each later than the one before.
    h.files.fault("/feed.xml", { kind: "status", status: 503, times: 1 });
    clock.advance(HOUR + 60_000);
    expect((await checks.next(1)).result).toMatchObject({ kind: "failed", code: "HTTP_TRANSIENT" });
    h.files.addFile("/feed.xml", Buffer.from('<?xml version="1.0"?><rss version="2.0"><channel><title>Broken</ti'), { contentType: "application/rss+xml" });
    clock.advance(HOUR + 60_000);
    const second = await checks.next(2);
    expect(second.result).toMatchObject({ kind: "failed", reason: { kind: "feedUnreadable" } });
    // Each failure waits longer: the second one two intervals.
    expect(second.subscription.nextCheckAt - second.subscription.checkedAt!).toBe(2 * HOUR);
    h.files.fault("/feed.xml", { kind: "status", status: 404 });
    clock.advance(2 * HOUR + 60_000);
    const third = await checks.next(3);
    expect(third).toMatchObject({ told: "failing", result: { kind: "failed", code: "HTTP_PERMANENT" } });
    await says(h, 0, /checks failed/);
    clock.advance(4 * HOUR + 60_000);
    expect((await checks.next(4)).told).toBeNull();

    h.files.clearFaults("/feed.xml");
    serveFeed(h, [item(1, 10), item(2, 0)], start);
    clock.advance(8 * HOUR + 60_000);
    expect((await checks.next(5)).told).toBe("recovered");
    await says(h, 0, /works again/);
    await uploadsAfter(h, 0, 1);
    const failing = sent(h, /checks failed/);
    expect(failing).toHaveLength(1);
    expect(failing[0]).toMatch(
      /^⚠️ #1 <b>The Feed<\/b>: the last 3 checks failed \(127\.0\.0\.1:\d+: the file is not there \(HTTP 404\); check the link and send it again\)\. The bot keeps trying, less often \(next check in 4 h\), and says so once it works again\.$/,
    );
    expect(sent(h, /^✅/)).toEqual(["✅ #1 <b>The Feed</b> works again: 1 new queued."]);
    expect(sent(h, /The Feed/).filter((t) => !/^👀/.test(t))).toHaveLength(2);
  });

  it("queues at most crawlMaxItems new entries a check and says how many it left for the next", { timeout: 60_000 }, async () => {
    h = await Harness.create({ crawlMaxItems: 2 });
    const clock = new ManualClock();
    const checks = new CheckRecorder();
    const start = clock.now();
    const names = ["m0", "m1", "m2", "m3", "m4", "m5"];
    const files = episodes(h, names, 100);
    const item = (n: number): FeedItem => ({ title: `Mass ${n}`, guid: `m${n}`, ago: 100 - n, enclosure: { url: files.get(`m${n}`)!.url, type: "application/zip" } });
    const feed = serveFeed(h, [item(0)], start);
    await h.start({ subscriptions: { clock, onCheck: checks.listener } });
    h.send(`/watch ${feed}`);
    await checks.next(0);
    serveFeed(h, [0, 1, 2, 3, 4, 5].map(item), start);
    clock.advance(HOUR + 60_000);
    expect((await checks.next(1)).result).toMatchObject({ queued: 2, left: 3 });
    expect(String((await says(h, 0, /left for the next check/)).params.text)).toBe("📥 #1 <b>The Feed</b>: 2 new queued; 3 more left for the next check (at most 2 a check).");
    clock.advance(HOUR + 60_000);
    expect((await checks.next(2)).result).toMatchObject({ queued: 2, left: 1 });
    clock.advance(HOUR + 60_000);
    expect((await checks.next(3)).result).toMatchObject({ queued: 1, left: 0 });
    await uploadsAfter(h, 0, 5);
    expect(uploadedHashes(h)).toEqual(["m1", "m2", "m3", "m4", "m5"].map((n) => files.get(n)!.sha256));
  });

  it("a directory listing and a yt-dlp playlist page work as sources", { timeout: 120_000 }, async () => {
    h = await Harness.create();
    const clock = new ManualClock();
    const checks = new CheckRecorder();
    const zips = episodes(h, ["a1", "a2", "a3"], 120);
    const listing = (names: string[]) =>
      h!.files.addHtml("/media/", `<html><head><title>Index of /media/</title></head><body><h1>Index of /media/</h1><pre><a href="../">../</a>\n${names.map((n) => `<a href="${n}.zip">${n}.zip</a>  06-Dec-2026 10:00  2000`).join("\n")}</pre></body></html>`);
    const page = listing(["a1", "a2"]);
    // A page whose player yt-dlp reads: its videos, newest first, as a channel lists them.
    const videos = [1, 2, 3].map((n) => h!.files.addFile(`/v/clip${n}.mp4`, playableMp4(n), { contentType: "video/mp4" }));
    const season = (ns: number[]) => h!.files.addHtml("/embed/season.html", `<html><head><title>Season</title></head><body>${ns.map((n) => `<video src="/v/clip${n}.mp4"></video>`).join("")}</body></html>`);
    season([2, 1]);
    const show = h.files.addHtml(
      "/watch/season.html",
      `<html><head><title>The Season</title><meta name="twitter:card" content="player"><meta name="twitter:player" content="${h.files.baseUrl}/embed/season.html"></head><body></body></html>`,
    );
    await h.start({ subscriptions: { clock, onCheck: checks.listener } });
    h.send(`/watch ${page} last 1`);
    expect((await checks.next(0)).subscription).toMatchObject({ kind: "listing", name: "Index of /media/" });
    const [listed] = await uploadsAfter(h, 0, 1);
    expect(listed!.files[0]!.sha256).toBe(zips.get("a2")!.sha256);
    h.send(`/watch ${show} last 1`);
    const first = await checks.next(1);
    expect(first).toMatchObject({ subscription: { kind: "playlist" }, result: { kind: "ok", found: 2, queued: 1 } });
    const [played] = await uploadsAfter(h, listed!.seq + 1, 1);
    expect(played!.files.find((f) => f.filename.endsWith(".mp4"))!.sha256).toBe(videos[1]!.sha256);

    listing(["a1", "a2", "a3"]);
    season([3, 2, 1]);
    const since = h.api.nextSeq;
    clock.advance(HOUR + 2 * 60_000);
    await checks.next(2);
    await checks.next(3);
    const after = await uploadsAfter(h, since, 2);
    expect(after.map((c) => c.files.find((f) => !f.filename.endsWith(".jpg"))!.sha256).sort()).toEqual([zips.get("a3")!.sha256, videos[2]!.sha256].sort());
    expect(checks.events.slice(2).map((e) => e.result)).toEqual([
      expect.objectContaining({ kind: "ok", fresh: 1, queued: 1 }),
      expect.objectContaining({ kind: "ok", fresh: 1, queued: 1 }),
    ]);
    // Spread out: the two checks were not due at the same moment.
    const times = checks.events.slice(0, 2).map((e) => e.subscription.nextCheckAt);
    expect(Math.abs(times[0]! - times[1]!)).toBeGreaterThanOrEqual(30_000);
  });

  it("another chat can neither list, check nor remove a chat's subscription", { timeout: 60_000 }, async () => {
    h = await Harness.create({ allowedChatIds: [CHAT, OTHER_CHAT] });
    const clock = new ManualClock();
    const checks = new CheckRecorder();
    const feed = serveFeed(h, [{ title: "Only", guid: "o1", ago: 5, link: `${h.files.baseUrl}/nowhere.html` }], clock.now());
    await h.start({ subscriptions: { clock, onCheck: checks.listener } });
    h.send(`/watch ${feed}`);
    await checks.next(0);

    let since = h.api.nextSeq;
    h.send("/watches", OTHER_CHAT);
    expect(String((await h.reply(since, OTHER_CHAT)).params.text)).toMatch(/^Nothing is watched in this chat\./);
    for (const command of ["/unwatch 1", "/check 1"]) {
      since = h.api.nextSeq;
      h.send(command, OTHER_CHAT);
      expect(String((await h.reply(since, OTHER_CHAT)).params.text)).toBe("There is no subscription #1 in this chat (/watches lists this chat's).");
    }
    expect(checks.events).toHaveLength(1);
    since = h.api.nextSeq;
    h.send("/watches");
    const list = String((await h.reply(since)).params.text);
    expect(list).toMatch(/^👀 Watched in this chat \(1\):\n\n#1 <b>The Feed<\/b> · feed\nevery 1 h · next check in 1 h · 0 queued so far\nlast check: 1 entry there now, none queued: what comes from now on will be\nhttp:/);
    since = h.api.nextSeq;
    h.send("/unwatch 1");
    expect(String((await h.reply(since)).params.text)).toBe("🗑 No longer watching #1 <b>The Feed</b>. What it queued stays in the queue.");
    expect(await h.withDb((db) => db.selectFrom("subscriptions").select("id").execute())).toEqual([]);
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { listItems } from "../../src/db/item-repository.ts";
import { loadSegments } from "../../src/db/segment-repository.ts";
import type { Segment } from "../../src/db/segment-repository.ts";
import { MIN_TAKEOVER_BYTES, coversFile } from "../../src/sources/segments.ts";
import { FileServer, type ServedRequest } from "../support/file-server.ts";
import { CHAT, Harness, madeUpNames } from "../support/harness.ts";

/** Several connections per download: each part of a big file over its own connection, resumed from its own bytes, a slow part taken over. */
let h: Harness;
afterEach(async () => {
  await h?.close();
});

const MB = 1024 * 1024;
/** 24 MB: over the 20 MB at which a file is split, cut into four parts of 6 MB. */
const SIZE = 24 * MB;
const PART = 6 * MB;
const PARTS = [0, 1, 2, 3].map((i) => `bytes=${i * PART}-${(i + 1) * PART - 1}`);

const gets = (requests: ServedRequest[], since = 0) => requests.filter((r) => r.method === "GET" && r.seq >= since);

/** Starts the bot again and waits for its upload: the uploaded bytes' sha256 and the GETs this run made. */
async function resumedRun(): Promise<{ sha256: string; resumed: ServedRequest[] }> {
  const since = h.api.nextSeq;
  const resumedFrom = h.files.nextSeq;
  await h.start();
  const upload = await h.upload(since);
  return { sha256: upload.files[0]!.sha256, resumed: gets(h.files.requests, resumedFrom) };
}

/**
 * Starts a bot on the 24 MB file served at 2 MB/s a connection, asks for it, and stops the bot
 * once every part but the first has `partBytes` (and the first, `firstBytes` when given).
 */
async function stoppedMidParts(seed: number, partBytes: number, firstBytes?: number) {
  h = await Harness.create({ uploadLimitBytes: 50 * MB });
  const file = h.files.addFile("/big.bin", FileServer.randomBytes(SIZE, seed));
  h.files.throttle("/big.bin", 2 * MB);
  await h.start();
  h.send(`/download ${file.url}`);
  if (firstBytes !== undefined) await h.files.waitForProgress((r) => r.method === "GET" && r.range === undefined && r.bytesSent >= firstBytes);
  for (const range of PARTS.slice(1)) await h.files.waitForProgress((r) => r.range === range && r.bytesSent >= partBytes);
  await h.stopApp();
  return file;
}

describe("a big file over several connections", () => {
  it("fetches each part over its own connection at once, with If-Range, and uploads the same bytes", async () => {
    h = await Harness.create({ uploadLimitBytes: 50 * MB });
    const file = h.files.addFile("/big.bin", FileServer.randomBytes(SIZE, 31));
    // Slow enough per connection that the four overlap.
    h.files.throttle("/big.bin", 12 * MB);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const upload = await h.upload(since);

    expect(upload.files[0]!.sha256).toBe(file.sha256);
    expect(upload.files[0]!.size).toBe(SIZE);
    const served = gets(h.files.requests);
    // The request that found the file goes on as the first part; the other three ask for theirs.
    expect(served.map((r) => r.range ?? "whole")).toEqual(["whole", PARTS[1], PARTS[2], PARTS[3]]);
    expect(served[0]!.status).toBe(200);
    expect(served.slice(1).every((r) => r.status === 206 && r.ifRange === `"${file.sha256.slice(0, 32)}"`)).toBe(true);
    expect(h.files.maxConcurrentTransfers).toBe(4);
    // Nothing fetched twice: the first response is cut where its part ends.
    const parts = served.slice(1).reduce((sum, r) => sum + r.bytesSent, 0);
    expect(parts).toBe(SIZE - PART);
    // Its part is done: nothing about the parts stays behind.
    expect(await h.withDb((db) => loadSegments(db, 1))).toEqual([]);
  });

  it("resumes every part from its own bytes after a restart", async () => {
    // Every part under way, none finished.
    const file = await stoppedMidParts(32, MB, MB);

    const saved: Segment[] = await h.withDb((db) => loadSegments(db, 1));
    expect(saved.map((s) => [s.start, s.end])).toEqual([0, 1, 2, 3].map((i) => [i * PART, (i + 1) * PART]));
    for (const s of saved) {
      // What the server sent, less what was still on its way when the bot stopped.
      expect(s.done).toBeGreaterThanOrEqual(MB / 2);
      expect(s.done).toBeLessThan(PART);
    }

    h.files.throttle("/big.bin", null);
    const { sha256, resumed } = await resumedRun();
    expect(sha256).toBe(file.sha256);
    // Each part asked for exactly what it still lacked, nothing from the start again.
    expect(resumed.map((r) => r.range).sort()).toEqual(saved.map((s) => `bytes=${s.start + s.done}-${s.end - 1}`).sort());
    expect(resumed.every((r) => r.status === 206 && r.ifRange === `"${file.sha256.slice(0, 32)}"`)).toBe(true);
    const left = saved.reduce((sum, s) => sum + (s.end - s.start - s.done), 0);
    expect(resumed.reduce((sum, r) => sum + r.bytesSent, 0)).toBe(left);
  });

  it("resumes parts saved over four connections on one, when connectionsPerDownload became 1 meanwhile", async () => {
    const file = await stoppedMidParts(33, MB);
    const saved: Segment[] = await h.withDb((db) => loadSegments(db, 1));
    expect(saved).toHaveLength(4);

    // Slow enough that four connections would overlap: one at a time is what one allows.
    h.files.throttle("/big.bin", 8 * MB);
    h.configInput.connectionsPerDownload = 1;
    h.files.maxConcurrentTransfers = 0;
    const { sha256, resumed } = await resumedRun();
    expect(h.files.maxConcurrentTransfers).toBe(1);
    expect(sha256).toBe(file.sha256);
    // One connection at a time, each part from its own bytes: no hole left between them.
    expect(resumed.map((r) => r.range)).toEqual(saved.map((s) => `bytes=${s.start + s.done}-${s.end - 1}`));
  });

  it("reopens a part whose connection drops, from that part's own bytes, without failing the attempt", async () => {
    h = await Harness.create({ uploadLimitBytes: 50 * MB });
    const file = h.files.addFile("/big.bin", FileServer.randomBytes(SIZE, 33));
    // The first GET (the first part) is cut after 2 MB.
    h.files.fault("/big.bin", { kind: "drop", afterBytes: 2 * MB, times: 1 });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    const reopened = gets(h.files.requests).filter((r) => r.range?.endsWith(`-${PART - 1}`));
    expect(reopened).toHaveLength(1);
    expect(Number(/bytes=(\d+)-/.exec(reopened[0]!.range!)![1])).toBeGreaterThan(0);
    expect(h.api.chat(CHAT).some((m) => /attempt \d+ failed/i.test(m.text ?? ""))).toBe(false);
    // Done on the first attempt: the drop cost no retry (read once the delivery is recorded).
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    expect((await h.withDb((db) => listItems(db, { chatId: CHAT })))[0]).toMatchObject({ attempts: 0 });
  });

  it("fails a stalled part like a stalled download and resumes every part on the retry", async () => {
    h = await Harness.create({ uploadLimitBytes: 50 * MB, retryDelaysMs: [500] });
    const file = h.files.addFile("/big.bin", FileServer.randomBytes(SIZE, 39));
    // The first GET (the first part) stops sending after 1 MB and stays open.
    h.files.fault("/big.bin", { kind: "stall", afterBytes: MB, times: 1 });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    // One attempt failed, and as a stall (not a stop or a hang): the chat is told before the retry.
    await h.api.waitForCall((c) => /attempt 1 of 2 failed: the server sent no data for 3 s/.test(String(c.params.text ?? "")), { since });
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    // Meanwhile a free connection took over the second half of what the stalled part lacked.
    const takeovers = gets(h.files.requests).filter((r) => r.range?.endsWith(`-${PART - 1}`));
    expect(takeovers).toHaveLength(1);
    const at = Number(/^bytes=(\d+)-/.exec(takeovers[0]!.range!)![1]);
    expect(at).toBeGreaterThanOrEqual(PART / 2);
    expect(at).toBeLessThanOrEqual(MB + (PART - MB) / 2);
    expect(takeovers[0]).toMatchObject({ status: 206, state: "complete", bytesSent: PART - at });
    // The retry asked the first part for what it lacked, from where the stall left it to the take-over.
    const resumed = gets(h.files.requests).filter((r) => r.range?.startsWith("bytes=") && Number(/^bytes=(\d+)-/.exec(r.range)![1]) < PART);
    expect(resumed.map((r) => r.range)).toEqual([`bytes=${at}-${PART - 1}`, `bytes=${MB}-${at - 1}`]);
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    expect((await h.withDb((db) => listItems(db, { chatId: CHAT })))[0]).toMatchObject({ attempts: 1, status: "completed" });
  });

  it("falls back to one connection and starts over when the server answers a part with the whole file", async () => {
    h = await Harness.create({ uploadLimitBytes: 50 * MB });
    const file = h.files.addFile("/big.bin", FileServer.randomBytes(SIZE, 34), { ignoreRanges: true });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    const served = gets(h.files.requests);
    // The first request, the refused parts (200 instead of 206), then one plain GET that is whole.
    expect(served[0]!.range).toBeUndefined();
    const last = served.at(-1)!;
    expect(last.range).toBeUndefined();
    expect(last).toMatchObject({ status: 200, bytesSent: SIZE, state: "complete" });
    expect(served.slice(1, -1).every((r) => r.range !== undefined && r.status === 200)).toBe(true);
  });

  it("starts over on one connection when the file changed between a stop and the resume", async () => {
    await stoppedMidParts(35, 256 * 1024);

    const changed = h.files.addFile("/big.bin", FileServer.randomBytes(SIZE, 36));
    h.files.throttle("/big.bin", null);
    const { sha256, resumed } = await resumedRun();
    // Never stitched from two versions: the new file, whole.
    expect(sha256).toBe(changed.sha256);
    expect(resumed.some((r) => r.range !== undefined && r.status === 200)).toBe(true);
    expect(resumed.at(-1)).toMatchObject({ range: undefined, status: 200, bytesSent: SIZE });
  });

  it("keeps to one connection with connectionsPerDownload: 1", async () => {
    h = await Harness.create({ uploadLimitBytes: 50 * MB, connectionsPerDownload: 1 });
    const file = h.files.addFile("/big.bin", FileServer.randomBytes(SIZE, 37));
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    expect((await h.upload(since)).files[0]!.sha256).toBe(file.sha256);
    expect(gets(h.files.requests).map((r) => r.range ?? "whole")).toEqual(["whole"]);
  });

  it("checks every part's connection against private networks (a name that turns private midway is refused)", async () => {
    h = await Harness.create({ uploadLimitBytes: 50 * MB, allowPrivateNetworks: false });
    const file = h.files.addFile("/big.bin", FileServer.randomBytes(SIZE, 38));
    h.files.throttle("/big.bin", 4 * MB);
    const names = madeUpNames();
    let rebound = false;
    const resolve = names.options.resolve!;
    await h.start({
      ...names.options,
      // DNS rebinding: once the first GET is in, the name points into the private network.
      resolve: async (name) => (rebound && name === "files.test" ? [{ address: "10.0.0.7", family: 4 }] : resolve(name)),
    });
    const port = new URL(h.files.baseUrl).port;
    const since = h.api.nextSeq;
    h.send(`/download http://files.test:${port}/big.bin`);
    await h.files.waitForRequest((r) => r.method === "GET");
    rebound = true;
    const failed = await h.reply(since, CHAT, /private or local network/);
    expect(String(failed.params.text)).toMatch(/files\.test \(10\.0\.0\.7\) is on a private or local network/);
    // No part ever reached the server.
    expect(gets(h.files.requests).map((r) => r.range ?? "whole")).toEqual(["whole"]);
    expect(h.uploads()).toHaveLength(0);
  });
});

describe("a connection that finishes early takes over the slowest part", () => {
  /** Where a ranged request starts. */
  const from = (r: ServedRequest) => Number(/^bytes=(\d+)-/.exec(r.range!)![1]);

  it("fetches the second half of the slow part's rest over a free connection, and the slow one stops where it begins", async () => {
    h = await Harness.create({ uploadLimitBytes: 50 * MB });
    const file = h.files.addFile("/big.bin", FileServer.randomBytes(SIZE, 40));
    // Only the first connection (the GET that found the file, going on as part 0) is slow: 6 s for its part alone.
    h.files.throttleRequests("/big.bin", (r) => (r.range === undefined ? MB : null));
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(file.sha256);

    const served = gets(h.files.requests);
    const takeover = served.at(-1)!;
    expect(served.map((r) => r.range ?? "whole")).toEqual(["whole", PARTS[1], PARTS[2], PARTS[3], takeover.range]);
    // The second half of what part 0 had not written yet when the others were done: one take-over
    // only, since what is left after it is under twice the minimum.
    const at = from(takeover);
    expect(takeover.range).toBe(`bytes=${at}-${PART - 1}`);
    expect(at).toBeGreaterThanOrEqual(PART / 2);
    expect(at).toBeLessThan(PART - MIN_TAKEOVER_BYTES);
    expect(takeover).toMatchObject({ status: 206, ifRange: `"${file.sha256.slice(0, 32)}"`, state: "complete", bytesSent: PART - at });
    // The slow connection sent every byte below the take-over and was closed soon after: it
    // asked for the whole file, and its throttle lets little go out between its last byte and the close.
    const slow = served[0]!;
    expect(slow.state).toBe("aborted");
    expect(slow.bytesSent).toBeGreaterThanOrEqual(at);
    expect(slow.bytesSent).toBeLessThan(at + MB / 2);
    // Done on the first attempt, and nothing about the parts stays behind.
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    expect((await h.withDb((db) => listItems(db, { chatId: CHAT })))[0]).toMatchObject({ attempts: 0, status: "completed" });
    expect(await h.withDb((db) => loadSegments(db, 1))).toEqual([]);
  });

  it("resumes a taken-over plan with more parts than connections, each part from its own bytes", async () => {
    h = await Harness.create({ uploadLimitBytes: 50 * MB });
    const file = h.files.addFile("/big.bin", FileServer.randomBytes(SIZE, 41));
    // Part 1 comes at once and its connection takes over; everything else is slow, so all is under way at the stop.
    h.files.throttleRequests("/big.bin", (r) => (r.range === PARTS[1] ? null : MB));
    await h.start();
    h.send(`/download ${file.url}`);
    const takeover = await h.files.waitForProgress((r) => r.range !== undefined && !PARTS.includes(r.range) && r.bytesSent >= MB / 4);
    for (const range of [undefined, PARTS[2], PARTS[3]]) await h.files.waitForProgress((r) => r.method === "GET" && r.range === range && r.bytesSent >= MB / 4);
    await h.stopApp();

    const saved: Segment[] = await h.withDb((db) => loadSegments(db, 1));
    // Five parts, the taken-over one cut where the take-over starts; four of them open.
    expect(saved).toHaveLength(5);
    expect(coversFile(saved, SIZE)).toBe(true);
    expect(saved.map((s) => s.start)).toContain(from(takeover));
    const open = saved.filter((s) => s.done < s.end - s.start);
    expect(open).toHaveLength(4);
    for (const s of open) expect(s.done).toBeGreaterThan(0);

    // Two connections now: the four open parts go two at a time (slow enough to overlap).
    h.configInput.connectionsPerDownload = 2;
    h.files.throttleRequests("/big.bin", () => 8 * MB);
    h.files.maxConcurrentTransfers = 0;
    const { sha256, resumed } = await resumedRun();
    expect(sha256).toBe(file.sha256);
    expect(h.files.maxConcurrentTransfers).toBe(2);
    // Each open part asked for what it lacked (a take-over among them may add a request).
    expect(resumed.map((r) => r.range)).toEqual(expect.arrayContaining(open.map((s) => `bytes=${s.start + s.done}-${s.end - 1}`)));
    expect(resumed.length).toBeLessThanOrEqual(open.length + 1);
    expect(resumed.every((r) => r.status === 206 && r.ifRange === `"${file.sha256.slice(0, 32)}"`)).toBe(true);
    // Nothing on disk was asked for again.
    for (const r of resumed) {
      const part = saved.find((s) => s.start <= from(r) && from(r) < s.end)!;
      expect(from(r)).toBeGreaterThanOrEqual(part.start + part.done);
    }
    expect(await h.withDb((db) => loadSegments(db, 1))).toEqual([]);
  });
});

import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { listItemFiles } from "../../src/db/item-repository.ts";
import { FileServer } from "../support/file-server.ts";
import { CHAT, Harness } from "../support/harness.ts";
import { joinedSha256, partNames } from "../support/parts.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const MB = 1024 * 1024;

/** A Telegram that refuses uploads over 1 MB (413), and a bot told so. */
const limited = (overrides: Parameters<typeof Harness.create>[0] = {}) =>
  Harness.create({ uploadLimitBytes: MB, ...overrides }, { maxUploadBytes: MB });

describe("files over the upload limit", () => {
  it("a 120 MB file goes up as byte parts under the 50 MB limit, in one album, that join back into the download", { timeout: 120_000 }, async () => {
    // The upload limits as the cloud Bot API has them: uploadLimitBytes and the double's 413 at 50 MB.
    h = await Harness.create();
    const file = h.files.addFile("/big/disk.img", FileServer.randomBytes(120 * MB, 301));
    // A slower link, so the live message is seen saying what is going up.
    h.api.throttleUploads(40 * MB);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    await h.waitForText(await h.progressMessageId(since), /⬆️ Uploading[\s\S]*\n1-3 of 3: disk\.img\.001 …\n/, since);
    h.api.throttleUploads(null);
    // One album of the parts: the chat shows one group, not loose files.
    const album = await h.upload(since);
    expect(album.method).toBe("sendMediaGroup");
    const parts = h.delivered();
    expect(parts.map((p) => [p.filename, p.method, p.size])).toEqual([
      ["disk.img.001", "sendDocument", 50 * MB],
      ["disk.img.002", "sendDocument", 50 * MB],
      ["disk.img.003", "sendDocument", 20 * MB],
    ]);
    expect(parts.map((p) => p.caption)).toEqual([
      'Part 1 of 3. Join the 3 parts with: cat "disk.img".0* > "disk.img" (on Windows, 7-Zip opens disk.img.001)',
      "Part 2 of 3",
      "Part 3 of 3",
    ]);
    expect(await joinedSha256(parts)).toBe(file.sha256);
    expect(await h.waitForText(await h.progressMessageId(since), /delivered/, since)).toBe("✅ disk.img: delivered (3 files, 120 MB)");
    // Nothing was refused on the way: no upload went over Telegram's limit.
    expect(h.api.calls.filter((c) => c.response?.ok === false)).toEqual([]);
  });

  it("are refused before anything is downloaded when splitLargeFiles is off", async () => {
    h = await limited({ splitLargeFiles: false });
    const file = h.files.addFile("/big/whole.bin", FileServer.randomBytes(2 * MB, 302));
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    expect(String((await h.reply(since, CHAT)).params.text)).toBe(
      `✗ ${file.url}: the file is 2.0 MB, over the upload limit of 1.0 MB, and splitLargeFiles is off.`,
    );
    expect(h.files.requests.map((r) => r.method)).toEqual(["HEAD"]);
  });

  it("sends each part exactly once across a restart between two albums", async () => {
    // Twelve parts: an album of ten, then one of two.
    const part = 256 * 1024;
    h = await Harness.create({ uploadLimitBytes: part }, { maxUploadBytes: part });
    const file = h.files.addFile("/big/resume.bin", FileServer.randomBytes(12 * part, 303));
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const first = await h.upload(since);
    // The second album hangs on a slow link when the bot stops.
    h.api.pauseUploads();
    await h.api.waitForUploadBytes(1);
    await h.stopApp();
    h.api.resumeUploads();
    await h.start();
    await h.upload(first.seq + 1);
    const names = partNames("resume.bin", 12);
    expect(h.uploads().map((u) => u.method)).toEqual(["sendMediaGroup", "sendMediaGroup"]);
    expect(h.delivered().map((p) => p.filename)).toEqual(names);
    expect(await joinedSha256(h.delivered())).toBe(file.sha256);
    expect((await listItemFiles(h.app!.db, 1)).map((f) => [f.name, f.offset, f.fileId !== null])).toEqual(names.map((n, i) => [n, i * part, true]));

    // Asked for again, every part is sent again from Telegram's copies, nothing downloaded.
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    const requestsBefore = h.files.requests.length;
    const captions = h.delivered().map((p) => p.caption);
    const again = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    await h.reply(again, undefined, /delivered here before/);
    const resent = h.api.calls.filter((c) => c.seq >= again && c.method === "sendDocument" && c.response?.ok === true);
    expect(resent).toHaveLength(12);
    expect(resent.every((c) => c.files.length === 0)).toBe(true);
    // Each says which part it is, as the upload did, the first how to join them.
    expect(resent.map((c) => c.params.caption)).toEqual(captions);
    expect(resent[0]!.params.caption).toBe('Part 1 of 12. Join the 12 parts with: cat "resume.bin".0* > "resume.bin" (on Windows, 7-Zip opens resume.bin.001)');
    expect(h.files.requests).toHaveLength(requestsBefore);
  });
});

describe("byte parts of a file still downloading", () => {
  it("go up while the rest downloads, in order, albums as they fill, and join into the download", { timeout: 60_000 }, async () => {
    const part = 256 * 1024;
    h = await Harness.create({ uploadLimitBytes: part }, { maxUploadBytes: part });
    // Twelve parts: an album of ten, then one of two; 3 MB at 512 kB/s takes six seconds.
    const body = FileServer.randomBytes(12 * part, 304);
    const file = h.files.addFile("/big/early.bin", body);
    h.files.throttle("/big/early.bin", 512 * 1024);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const progressId = await h.progressMessageId(since);

    // The first part is at Telegram while the download is still at its start.
    const first = await h.api.waitForUpload((f) => f.filename === "early.bin.001" && f.complete && f.size === part);
    const get = () => h!.files.requests.find((r) => r.method === "GET" && r.path === "/big/early.bin")!;
    expect(first.sha256).toBe(createHash("sha256").update(body.subarray(0, part)).digest("hex"));
    expect(get().state).toBe("sending");
    expect(get().bytesSent).toBeLessThan(8 * part);
    // The first album is in the chat before the last byte left the server, and the live message says so.
    const album = await h.upload(since);
    expect(get().state).toBe("sending");
    await h.waitForText(progressId, /Downloading[\s\S]*parts sent: 10 of 12/, since);

    expect(await h.waitForText(progressId, /delivered/, since)).toBe("✅ early.bin: delivered (12 files, 3.0 MB)");
    expect(album.method).toBe("sendMediaGroup");
    expect(h.uploads().map((u) => u.method)).toEqual(["sendMediaGroup", "sendMediaGroup"]);
    const names = partNames("early.bin", 12);
    expect(h.delivered().map((p) => p.filename)).toEqual(names);
    expect(await joinedSha256(h.delivered())).toBe(file.sha256);
    // One download, each part recorded once and uploaded, none left pending.
    expect(h.files.requests.filter((r) => r.method === "GET")).toHaveLength(1);
    expect((await listItemFiles(h.app!.db, 1)).map((f) => [f.name, f.fileId !== null])).toEqual(names.map((n) => [n, true]));
    expect(h.api.calls.filter((c) => c.response?.ok === false)).toEqual([]);
  });
});

describe("byte parts of a file fetched over four connections", () => {
  it("go up as their ranges arrive, whichever connection wrote them, and join into the download", { timeout: 60_000 }, async () => {
    const part = 2 * MB;
    h = await Harness.create({ uploadLimitBytes: part, connectionsPerDownload: 4 }, { maxUploadBytes: part });
    // 24 MB in four ranges of 6 MB, each at 2 MB/s: three seconds; twelve parts, albums of ten and two.
    const file = h.files.addFile("/big/ranges.bin", FileServer.randomBytes(24 * MB, 307));
    h.files.throttle("/big/ranges.bin", 2 * MB);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    await h.api.waitForUpload((f) => f.filename === "ranges.bin.001" && f.complete);
    const gets = () => h!.files.requests.filter((r) => r.method === "GET");
    expect(gets().some((r) => r.state === "sending")).toBe(true);
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);

    expect(gets().filter((r) => r.range !== undefined).length).toBeGreaterThanOrEqual(3);
    const names = partNames("ranges.bin", 12);
    expect(h.uploads().map((u) => u.method)).toEqual(["sendMediaGroup", "sendMediaGroup"]);
    expect(h.delivered().map((p) => p.filename)).toEqual(names);
    expect((await listItemFiles(h.app!.db, 1)).map((f) => [f.name, f.fileId !== null])).toEqual(names.map((n) => [n, true]));
    expect(await joinedSha256(h.delivered())).toBe(file.sha256);
  });
});

describe("a big file under the upload limit", () => {
  it("goes up as one document while it downloads, read only as far as it is on disk", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    // 24 MB at 8 MB/s: three seconds; one connection (no ranges), one document.
    const file = h.files.addFile("/big/whole.iso", FileServer.randomBytes(24 * MB, 308), { acceptRanges: false });
    h.files.throttle("/big/whole.iso", 8 * MB);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    await h.api.waitForUpload((f) => f.filename === "whole.iso" && f.size >= 4 * MB, { timeoutMs: 30_000 });
    const get = h.files.requests.find((r) => r.method === "GET")!;
    expect(get.state).toBe("sending");
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendDocument");
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    expect(await h.waitForText(await h.progressMessageId(since), /delivered/, since)).toBe("✅ whole.iso: delivered (24.0 MB)");
    expect(h.uploads()).toHaveLength(1);
  });
});

describe("byte parts of a file that changed on the server", () => {
  // The next attempt sends its parts while it downloads, or (uploadWhileDownloading turned off
  // meanwhile) once the file is whole: either way nothing of the old file counts as sent.
  it.each([true, false])("are all sent again from the new file when the next attempt has to start over (parts while downloading: %s)", { timeout: 60_000 }, async (overlapAgain) => {
    const part = 256 * 1024;
    h = await Harness.create({ uploadLimitBytes: part }, { maxUploadBytes: part });
    h.files.addFile("/big/changing.bin", FileServer.randomBytes(12 * part, 305));
    h.files.throttle("/big/changing.bin", 512 * 1024);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${h.files.baseUrl}/big/changing.bin`);
    // The first album (parts 1-10) is up; the bot stops before the file is whole.
    await h.upload(since);
    await h.stopApp();
    // Same name and size, other bytes (and so another ETag): If-Range gets the whole new file.
    const newBody = FileServer.randomBytes(12 * part, 306);
    const changed = h.files.addFile("/big/changing.bin", newBody);
    // Still slow enough (1.5 s) that parts go while it downloads, faster than the first attempt's pace.
    h.files.throttle("/big/changing.bin", 2 * 1024 * 1024);
    h.configInput.uploadWhileDownloading = overlapAgain;
    await h.start();
    if (overlapAgain) {
      // The new file's first part is at Telegram while its download still runs.
      const newFirst = createHash("sha256").update(newBody.subarray(0, part)).digest("hex");
      await h.api.waitForUpload((f) => f.filename === "changing.bin.001" && f.complete && f.sha256 === newFirst);
      expect(h.files.requests.filter((r) => r.method === "GET").at(-1)!.state).toBe("sending");
    }
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);

    const gets = h.files.requests.filter((r) => r.method === "GET");
    expect(gets.map((g) => [g.status, g.ifRange !== undefined])).toEqual([
      [200, false],
      [200, true],
    ]);
    // The new file's twelve parts follow the first ten, and join into the new file.
    const delivered = h.delivered();
    expect(delivered).toHaveLength(22);
    expect(await joinedSha256(delivered.slice(10))).toBe(changed.sha256);
    const names = partNames("changing.bin", 12);
    expect(delivered.slice(10).map((p) => p.filename)).toEqual(names);
    // The item's records are the new file's parts, each up once.
    expect((await listItemFiles(h.app!.db, 1)).map((f) => [f.name, f.fileId !== null])).toEqual(names.map((n) => [n, true]));
    expect(h.textOf(await h.progressMessageId(since))).toBe("✅ changing.bin: delivered (12 files, 3.0 MB)");
  });
});

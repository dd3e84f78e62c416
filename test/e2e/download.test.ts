import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/database.ts";
import { findItem, listItemFiles, listItems } from "../../src/db/item-repository.ts";
import type { ItemStatus } from "../../src/items/item.ts";
import { FileServer } from "../support/file-server.ts";
import { playableMp4 } from "../support/media.ts";
import { tooManyRequests } from "../support/bot-api-double.ts";
import { CHAT, Harness, STRANGER_CHAT, madeUpNames, messageIdOf } from "../support/harness.ts";

let h: Harness;
afterEach(async () => {
  await h?.close();
});


describe("/download of a direct link", () => {
  it("downloads, uploads the same bytes, keeps one progress message and ends it as the final line", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/files/report.bin", FileServer.randomBytes(300_000, 7));
    await h.start();
    const since = h.api.nextSeq;
    const request = h.send(`/download ${file.url}`);

    const queued = await h.reply(since, CHAT, /Queued/);
    expect(String(queued.params.text)).toMatch(/Queued #1 <b>report\.bin<\/b> \(293 KB\): position 1 in the queue\./);

    const upload = await h.upload(since);
    expect(upload.method).toBe("sendDocument");
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    expect(upload.files[0]!.filename).toBe("report.bin");
    expect((upload.params.reply_parameters as { message_id: number }).message_id).toBe(request);

    const progress = await h.progressMessageId(since);
    const final = await h.waitForText(progress, /delivered/, since);
    expect(final).toBe("✅ report.bin: delivered (293 KB)");
    expect(h.api.chat(CHAT).find((m) => m.message_id === progress)?.reply_markup).toBeUndefined();

    // Exactly one progress message for the item, and it is the acknowledgement itself (the item
    // started at once); edits spaced by the interval; none pointless.
    expect(h.progressMessages(since)).toEqual([messageIdOf(queued)]);
    // The double, in this process, sees a call when the event loop gets to it: a few ms either way.
    for (const gap of h.editGaps(progress)) expect(gap).toBeGreaterThanOrEqual(270);
    expect(h.api.callsOf("editMessageText").filter((c) => c.response?.ok === false)).toEqual([]);

    const [item] = await listItems(h.app!.db);
    expect(item).toMatchObject({ status: "completed", attempts: 0, title: "report.bin", sizeBytes: 300_000 });
    const [delivered] = await listItemFiles(h.app!.db, item!.id);
    expect(delivered!.fileId).toBe((upload.response as { result: { document: { file_id: string } } }).result.document.file_id);
    expect(await readdir(path.join(h.dataDir, "downloads"))).toEqual([]);
    // Pre-check with HEAD, then one GET.
    expect(h.files.requests.map((r) => r.method)).toEqual(["HEAD", "GET"]);
  });

  it("uploads mp4 as streamable video and mp3 as audio, and uses Content-Disposition for the name", async () => {
    h = await Harness.create();
    const video = h.files.addFile("/v/clip", playableMp4(0), {
      contentType: "video/mp4",
      contentDisposition: `attachment; filename="holiday clip.mp4"`,
    });
    const audio = h.files.addFile("/a/song.mp3", FileServer.randomBytes(40_000, 2), { contentType: "audio/mpeg" });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${video.url}\n${audio.url}`);
    const first = await h.upload(since);
    const second = await h.upload(first.seq + 1);
    expect(first.method).toBe("sendVideo");
    expect(first.params.supports_streaming).toBe(true);
    expect(first.files[0]!.filename).toBe("holiday clip.mp4");
    expect(first.files[0]!.sha256).toBe(video.sha256);
    expect(second.method).toBe("sendAudio");
    expect(second.files[0]!.sha256).toBe(audio.sha256);
  });

  it('sends even a playable video as a document with uploadAs: "document"', async () => {
    h = await Harness.create({ uploadAs: "document" });
    const video = h.files.addFile("/v/clip.mp4", FileServer.randomBytes(30_000, 16), { contentType: "video/mp4" });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${video.url}`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendDocument");
    expect(upload.files[0]!.sha256).toBe(video.sha256);
  });

  it("refuses a chat that is not allowed, storing and fetching nothing", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/f.bin", FileServer.randomBytes(1000));
    await h.start();
    const since = h.api.nextSeq;
    h.api.sendText(STRANGER_CHAT, `/download ${file.url}`, { fromId: 9 });
    const reply = await h.reply(since, STRANGER_CHAT);
    expect(String(reply.params.text)).toMatch(/only works in the chats it was set up for.*666/);
    expect(await listItems(h.app!.db)).toEqual([]);
    expect(h.files.requests).toEqual([]);
  });

  it("explains the commands on /start and /help", async () => {
    h = await Harness.create();
    await h.start();
    for (const command of ["/start", "/help"]) {
      const since = h.api.nextSeq;
      h.send(command);
      const text = String((await h.reply(since)).params.text);
      expect(text).toContain("/download &lt;url&gt;");
      expect(text).toContain("/torrent");
    }
  });

  it("answers bad input with what was wrong and queues nothing", async () => {
    h = await Harness.create();
    await h.start();
    let since = h.api.nextSeq;
    h.send("/download");
    expect(String((await h.reply(since)).params.text)).toMatch(/No link given/);
    since = h.api.nextSeq;
    h.send("/download ftp://example.com/x <script>");
    const text = String((await h.reply(since)).params.text);
    expect(text).toMatch(/only http and https/);
    expect(text).toMatch(/&lt;script&gt;: not a valid URL/);
    since = h.api.nextSeq;
    h.send(`/download https://example.com/${"a".repeat(3000)}`);
    const long = String((await h.reply(since)).params.text);
    expect(long).toMatch(/too long/);
    expect(long.length).toBeLessThan(400);
    // A whole message of junk: the reply still says what was wrong, within Telegram's limit.
    since = h.api.nextSeq;
    h.send(`/download ${Array.from({ length: 1300 }, (_, i) => `x${i}`).join(" ")}`);
    const junk = await h.reply(since);
    expect(junk.response?.ok).toBe(true);
    expect(String(junk.params.text)).toMatch(/^x0: not a valid URL .*\nx1: not a valid URL /);
    expect(String(junk.params.text)).toMatch(/… and \d+ more\.$/);
    expect(await listItems(h.app!.db)).toEqual([]);
  });

  it("refuses a file over the limit before queueing, naming its size and the limit", async () => {
    h = await Harness.create({ maxFileSizeBytes: 100_000 });
    const file = h.files.addFile("/big.iso", FileServer.randomBytes(250_000));
    const noHead = h.files.addFile("/big-nohead.iso", FileServer.randomBytes(250_000), { allowHead: false });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url} ${noHead.url}`);
    const text = String((await h.reply(since)).params.text);
    expect(text).toContain("the file is 244 KB, over this bot's limit of 97.7 KB.");
    expect(text.split("\n")).toHaveLength(2);
    expect(await listItems(h.app!.db)).toEqual([]);
    // HEAD for the first; HEAD refused then a one-byte ranged GET for the second.
    expect(h.files.requests.map((r) => `${r.method} ${r.path} ${r.range ?? ""}`.trim())).toEqual([
      "HEAD /big.iso",
      "HEAD /big-nohead.iso",
      "GET /big-nohead.iso bytes=0-0",
    ]);
  });

  it("enforces the limit while streaming when the size is unknown", async () => {
    h = await Harness.create({ maxFileSizeBytes: 100_000 });
    const file = h.files.addFile("/stream.bin", FileServer.randomBytes(250_000), { sendLength: false, acceptRanges: false });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const failure = await h.reply(since, CHAT, /failed/);
    expect(String(failure.params.text)).toMatch(/over this bot's limit/);
    const [item] = await listItems(h.app!.db);
    expect(item).toMatchObject({ status: "failed", errorCode: "TOO_LARGE", attempts: 1 });
    expect(h.uploads()).toEqual([]);
  });

  it("refuses URLs on private networks when the guard is on", async () => {
    h = await Harness.create({ allowPrivateNetworks: false });
    const file = h.files.addFile("/x.bin", FileServer.randomBytes(1000));
    await h.start();
    const since = h.api.nextSeq;
    const viaName = file.url.replace("127.0.0.1", "localhost");
    h.send(`/download ${file.url} ${viaName}`);
    const text = String((await h.reply(since)).params.text);
    expect(text).toMatch(/127\.0\.0\.1.*private or local network/);
    expect(text).toMatch(/localhost \((127\.0\.0\.1|::1)\) is on a private or local network/);
    expect(await listItems(h.app!.db)).toEqual([]);
    expect(h.files.requests).toEqual([]);
  });

  it("checks every redirect on its resolved address", async () => {
    h = await Harness.create({ allowPrivateNetworks: false });
    const port = new URL(h.files.baseUrl).port;
    const file = h.files.addFile("/ok.bin", FileServer.randomBytes(20_000, 12));
    h.files.addRedirect("/to-literal", `http://127.0.0.2:${port}/ok.bin`);
    h.files.addRedirect("/to-name", `http://intranet.test:${port}/ok.bin`);
    h.files.addRedirect("/to-fine", `http://files.test:${port}/ok.bin`);
    // The fixtures live on 127.0.0.1: trust exactly that address, and resolve made-up names.
    await h.start(madeUpNames().options);
    const since = h.api.nextSeq;
    h.send(`/download http://files.test:${port}/to-literal http://files.test:${port}/to-name http://files.test:${port}/to-fine`);
    const text = String((await h.reply(since)).params.text);
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/127\.0\.0\.2 is on a private or local network/);
    expect(lines[1]).toMatch(/intranet\.test \(10\.0\.0\.7\) is on a private or local network/);
    expect(lines[2]).toMatch(/Queued #1 <b>ok\.bin<\/b>/);
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    // Each refused redirect was seen once (the pre-check's HEAD) and never fetched again.
    expect(h.files.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "HEAD /to-literal",
      "HEAD /to-name",
      "HEAD /to-fine",
      "HEAD /ok.bin",
      "GET /to-fine",
      "GET /ok.bin",
    ]);
  });
});

describe("the queue", () => {
  it("processes three items in order, never two transfers at once", async () => {
    h = await Harness.create();
    const files = [1, 2, 3].map((n) => h.files.addFile(`/seq/${n}.bin`, FileServer.randomBytes(200_000, n)));
    for (const f of files) h.files.throttle(new URL(f.url).pathname, 2_000_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${files.map((f) => f.url).join(" ")}`);
    const reply = String((await h.reply(since, CHAT, /Queued/)).params.text);
    expect(reply).toMatch(/#1 .*position 1.*\n.*#2 .*position 2.*\n.*#3 .*position 3/);
    const uploads = [];
    let from = since;
    for (let i = 0; i < 3; i++) {
      const u = await h.upload(from);
      uploads.push(u);
      from = u.seq + 1;
    }
    expect(uploads.map((u) => u.files[0]!.sha256)).toEqual(files.map((f) => f.sha256));
    // The last one's delivery recorded (its final line comes after): the live message may have
    // gone straight from the second item to this line, so the line is what is waited for.
    await h.api.waitForCall((c) => /3\.bin(<\/b>)?: delivered/.test(String(c.params.text ?? "")), { since });
    expect(h.files.maxConcurrentTransfers).toBe(1);
    const gets = h.files.requests.filter((r) => r.method === "GET").map((r) => r.path);
    expect(gets).toEqual(["/seq/1.bin", "/seq/2.bin", "/seq/3.bin"]);
    // Each transfer ended before the next began (and before its upload).
    expect((await listItems(h.app!.db)).map((i) => i.status)).toEqual(["completed", "completed", "completed"]);
  });

  it("goes on with the next item while one waits for its retry, and a restart keeps the retry's time", async () => {
    h = await Harness.create({ retryDelaysMs: [60_000] });
    const flaky = h.files.addFile("/wait/flaky.bin", FileServer.randomBytes(10_000, 17));
    h.files.fault("/wait/flaky.bin", { kind: "status", status: 503 });
    const next = h.files.addFile("/wait/next.bin", FileServer.randomBytes(20_000, 18));
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${flaky.url} ${next.url}`);
    expect((await h.upload(since)).files[0]!.sha256).toBe(next.sha256);
    await h.api.waitForCall((c) => c.method === "editMessageText" && /next\.bin<\/b>: delivered/.test(String(c.params.text)), { since });
    const waiting = (await findItem(h.app!.db, 1))!;
    expect(waiting).toMatchObject({ status: "queued", attempts: 1, errorCode: "HTTP_TRANSIENT" });
    expect(waiting.nextAttemptAt).toBeGreaterThan(Date.now() + 50_000);
    const flakyGets = () => h.files.requests.filter((r) => r.method === "GET" && r.path === "/wait/flaky.bin" && r.range === undefined);
    expect(flakyGets()).toHaveLength(1);

    await h.stopApp();
    await h.start();
    // A later item is a barrier: had the restart made the waiting item ready, it would have gone
    // first (oldest first).
    const later = h.files.addFile("/wait/later.bin", FileServer.randomBytes(5_000, 19));
    const since2 = h.api.nextSeq;
    h.send(`/download ${later.url}`);
    expect((await h.upload(since2)).files[0]!.sha256).toBe(later.sha256);
    expect(flakyGets()).toHaveLength(1);
    expect(await findItem(h.app!.db, 1)).toMatchObject({ status: "queued", attempts: 1, nextAttemptAt: waiting.nextAttemptAt });
  });
});

describe("command order", () => {
  it("queues the links of a chat's messages in the order they were sent", async () => {
    h = await Harness.create();
    const files = [1, 2, 3, 4].map((n) => h.files.addFile(`/order/${n}.bin`, FileServer.randomBytes(1000, 40 + n)));
    await h.start();
    h.api.addChat(CHAT);
    // Hold the queue so only intake order is seen: the first message needs three pre-checks, the
    // second one; run side by side, the second would be stored first.
    h.send("/pause");
    const since = h.api.nextSeq;
    h.send(`/download ${files.slice(0, 3).map((f) => f.url).join(" ")}`);
    h.send(`/download ${files[3]!.url}`);
    await h.reply(since, CHAT, /Queued #4/);
    expect((await listItems(h.app!.db)).map((i) => new URL(i.url).pathname)).toEqual(["/order/1.bin", "/order/2.bin", "/order/3.bin", "/order/4.bin"]);
  });
});

describe("failures and retries", () => {
  it("retries a transient failure on the configured schedule and then succeeds", async () => {
    h = await Harness.create({ retryDelaysMs: [0, 400, 800] });
    const file = h.files.addFile("/flaky.bin", FileServer.randomBytes(100_000, 3));
    h.files.fault("/flaky.bin", { kind: "status", status: 503, times: 2 });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    const gets = h.files.requests.filter((r) => r.method === "GET");
    expect(gets.map((r) => r.status)).toEqual([503, 503, 200]);
    // 0 s before the first retry, 400 ms before the second.
    expect(gets[2]!.at - gets[1]!.at).toBeGreaterThanOrEqual(390);
    await h.waitForText(await h.progressMessageId(since), /delivered/);
    const [item] = await listItems(h.app!.db);
    expect(item).toMatchObject({ status: "completed", attempts: 2 });
  });

  it("gives up after the last retry and tells the chat why", async () => {
    h = await Harness.create({ retryDelaysMs: [0, 100, 200] });
    const file = h.files.addFile("/down.bin", FileServer.randomBytes(10_000, 4));
    h.files.fault("/down.bin", { kind: "status", status: 500 });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const failure = await h.reply(since, CHAT, /failed/);
    expect(String(failure.params.text)).toBe(`❌ <b>down.bin</b>: failed: 127.0.0.1:${new URL(file.url).port}: the server answered HTTP 500.`);
    expect(h.files.requests.filter((r) => r.method === "GET")).toHaveLength(4);
    const [item] = await listItems(h.app!.db);
    expect(item).toMatchObject({ status: "failed", attempts: 4, errorCode: "HTTP_TRANSIENT" });
    expect(h.uploads()).toEqual([]);
    // The progress message made way for the failure line: the chat shows it once.
    await h.api.waitForCall((c) => c.method === "deleteMessage" && c.response?.ok === true, { since });
    const visible = h.api.chat(CHAT).filter((m) => !m.deleted && /down\.bin: failed/.test(m.text ?? ""));
    expect(visible.map((m) => m.text)).toEqual([`❌ down.bin: failed: 127.0.0.1:${new URL(file.url).port}: the server answered HTTP 500.`]);
  });

  it("does not retry a 404", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/gone.bin", FileServer.randomBytes(10_000, 5));
    h.files.fault("/gone.bin", { kind: "status", status: 404 });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const failure = await h.reply(since, CHAT, /failed/);
    expect(String(failure.params.text)).toMatch(/the file is not there \(HTTP 404\); check the link/);
    expect(h.files.requests.filter((r) => r.method === "GET")).toHaveLength(1);
    expect((await listItems(h.app!.db))[0]).toMatchObject({ status: "failed", attempts: 1 });
  });

  it("resumes a dropped connection with a Range request", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/drop.bin", FileServer.randomBytes(400_000, 6));
    h.files.fault("/drop.bin", { kind: "drop", afterBytes: 150_000, times: 1 });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    const gets = h.files.requests.filter((r) => r.method === "GET");
    expect(gets).toHaveLength(2);
    expect(gets[0]!.range).toBeUndefined();
    expect(gets[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(Number(gets[1]!.range!.slice(6, -1))).toBeGreaterThan(0);
    expect(gets[1]!.ifRange).toBeTruthy();
    expect(gets[1]!.status).toBe(206);
    expect(gets[1]!.bytesSent).toBe(400_000 - Number(gets[1]!.range!.slice(6, -1)));
  });

  it("starts over when the file changed on the server (If-Range mismatch)", async () => {
    // The retry waits long enough for the file to change on the server first.
    h = await Harness.create({ retryDelaysMs: [500] });
    const path1 = "/changing.bin";
    h.files.addFile(path1, FileServer.randomBytes(300_000, 8), { etag: `"v1"` });
    h.files.fault(path1, { kind: "drop", afterBytes: 100_000, times: 1 });
    await h.start();
    const since = h.api.nextSeq;
    const url = `${h.files.baseUrl}${path1}`;
    h.send(`/download ${url}`);
    // The first transfer breaks off; the file then changes on the server before the retry.
    await h.files.waitForRequest((r) => r.method === "GET" && r.path === path1 && r.state === "dropped");
    const v2 = h.files.addFile(path1, FileServer.randomBytes(300_000, 9), { etag: `"v2"` });
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(v2.sha256);
    // The retry asked to resume with the old ETag and got the whole new file instead.
    const retry = h.files.requests.filter((r) => r.method === "GET")[1]!;
    expect(retry.ifRange).toBe(`"v1"`);
    expect(retry.status).toBe(200);
  });

  it("fails a stalled transfer and resumes it on the retry", async () => {
    h = await Harness.create({ stallTimeoutMs: 500 });
    const file = h.files.addFile("/stall.bin", FileServer.randomBytes(200_000, 13));
    h.files.fault("/stall.bin", { kind: "stall", afterBytes: 80_000, times: 1 });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    const gets = h.files.requests.filter((r) => r.method === "GET");
    expect(gets).toHaveLength(2);
    expect(gets[1]!.range).toBe("bytes=80000-");
    expect(gets[1]!.at - gets[0]!.at).toBeGreaterThanOrEqual(500);
    await h.waitForText(await h.progressMessageId(since), /delivered/);
    expect((await listItems(h.app!.db))[0]).toMatchObject({ attempts: 1, status: "completed" });
  });

  it("retries a failed upload from the file on disk without downloading again", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/up.bin", FileServer.randomBytes(120_000, 14));
    await h.start();
    h.api.failNext("sendDocument", { error_code: 500, description: "Internal Server Error" }, 1);
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    expect(h.api.callsOf("sendDocument")).toHaveLength(2);
    expect(h.files.requests.filter((r) => r.method === "GET")).toHaveLength(1);
    await h.waitForText(await h.progressMessageId(since), /delivered/);
    expect((await listItems(h.app!.db))[0]).toMatchObject({ attempts: 1, status: "completed" });
  });

  it("starts the transfer without waiting for a rate-limited progress message", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/eager.bin", FileServer.randomBytes(100_000, 16));
    await h.start();
    // Both the acknowledgement and the progress message meet a 2 s flood wait.
    h.api.failNext("sendMessage", { error_code: 429, description: "Too Many Requests: retry after 2", parameters: { retry_after: 2 } }, 2);
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const progress = await h.progressMessageId(since);
    const sent = h.api.callsOf("sendMessage").find((c) => c.response?.ok === true && /waiting/.test(String(c.params.text)))!;
    const get = h.files.requests.find((r) => r.method === "GET")!;
    expect(get).toBeDefined();
    expect(get.at).toBeLessThan(sent.startedAt);
    expect((await h.upload(since)).files[0]!.sha256).toBe(file.sha256);
    await h.waitForText(progress, /delivered/, since);
  });

  it("keeps downloading when Telegram answers 429 to a progress edit", async () => {
    h = await Harness.create({ progressIntervalMs: 200 });
    const file = h.files.addFile("/slow.bin", FileServer.randomBytes(600_000, 10));
    h.files.throttle("/slow.bin", 300_000);
    await h.start();
    h.api.failNext("editMessageText", tooManyRequests(1), 1);
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    const edits = h.api.callsOf("editMessageText");
    const limited = edits.find((c) => c.response?.ok === false);
    expect(limited?.response).toMatchObject({ error_code: 429 });
    // The file kept flowing while the edit waited out retry_after: bytes arrived during that second.
    const next = edits.find((c) => c.seq > limited!.seq)!;
    expect(next.startedAt - limited!.startedAt).toBeGreaterThanOrEqual(1000);
    const get = h.files.requests.find((r) => r.method === "GET")!;
    expect(get.status).toBe(200);
    const progress = Number(limited!.params.message_id);
    await h.waitForText(progress, /delivered/, since);
    // A mid-transfer edit shows everything the issue lists.
    const mid = edits.map((c) => String(c.params.text)).find((t) => /Downloading/.test(t) && /ETA \d/.test(t))!;
    expect(mid).toMatch(/^#1 <b>slow\.bin<\/b>\n⬇️ Downloading\n[█░]{16} \d+%\n[\d.]+ KB \/ 586 KB · [\d.]+ KB\/s · ETA \d+s · \d+s elapsed\nnothing else waiting$/);
    // Edits keep progressIntervalMs apart (the double sees each request after some jitter under
    // load; without the spacing they would come every chunk, a few ms apart).
    for (const gap of h.editGaps(progress)) expect(gap).toBeGreaterThanOrEqual(150);
  });
});

describe("storage", () => {
  it("clears at start the files of items that are finished or gone, and keeps those of open items", async () => {
    h = await Harness.create();
    await h.start();
    const repo = await import("../../src/db/item-repository.ts");
    const open = await repo.insertItem(h.app!.db, { chatId: CHAT, userId: 1, url: "http://127.0.0.1:9/a", sourceKind: "direct", title: "a", sizeBytes: null }, Date.now());
    await h.stopApp();
    if (!open.inserted) throw new Error("not inserted");
    const { mkdir, writeFile } = await import("node:fs/promises");
    // Paused, so the open item stays as it is while we look.
    const { openDatabase } = await import("../../src/db/database.ts");
    const db = openDatabase(path.join(h.dataDir, "bot.sqlite"));
    await repo.transition(db, open.item.id, { from: "queued", to: "paused" }, Date.now());
    // One item in each finished status, each with files a crash left behind.
    const finished: number[] = [];
    for (const [name, moves] of [
      ["completed", ["downloading", "completed"]],
      ["failed", ["downloading", "failed"]],
      ["cancelled", ["cancelled"]],
    ] as const) {
      const added = await repo.insertItem(db, { chatId: CHAT, userId: 1, url: `http://127.0.0.1:9/${name}`, sourceKind: "direct", title: name, sizeBytes: null }, Date.now());
      if (!added.inserted) throw new Error("not inserted");
      let from: ItemStatus = "queued";
      for (const to of moves) {
        expect(await repo.transition(db, added.item.id, { from, to }, Date.now())).toMatchObject({ status: to });
        from = to;
      }
      finished.push(added.item.id);
    }
    await db.destroy();
    for (const id of [open.item.id, 77, ...finished]) {
      await mkdir(path.join(h.dataDir, "downloads", String(id)), { recursive: true });
      await writeFile(path.join(h.dataDir, "downloads", String(id), "part.bin"), "x");
    }
    await h.start();
    expect(existsSync(path.join(h.dataDir, "downloads", "77"))).toBe(false);
    for (const id of finished) expect(existsSync(path.join(h.dataDir, "downloads", String(id))), `item ${id}`).toBe(false);
    expect(existsSync(path.join(h.dataDir, "downloads", String(open.item.id), "part.bin"))).toBe(true);
  });

  it("checks free disk space before downloading and retries once there is room", async () => {
    h = await Harness.create({ retryDelaysMs: [1500] });
    const file = h.files.addFile("/room.bin", FileServer.randomBytes(100_000, 15));
    let free = 1024;
    await h.start({ freeBytes: async () => free });
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const progress = await h.progressMessageId(since);
    const retrying = await h.waitForText(progress, /attempt 1 of 2 failed/, since);
    expect(retrying).toMatch(/not enough free disk space: the file needs 16\.1 MB and 1\.0 KB is free/);
    expect(h.files.requests.filter((r) => r.method === "GET")).toHaveLength(0);
    free = 10 * 1024 ** 3;
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
  });

  it("keeps nothing of a delivered item on disk", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/tidy.bin", FileServer.randomBytes(10_000, 11));
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    await h.upload(since);
    await h.api.waitForCall((c) => c.method === "editMessageText" && /delivered/.test(String(c.params.text)), { since });
    expect(existsSync(path.join(h.dataDir, "downloads", "1"))).toBe(false);
    expect(existsSync(path.join(h.dataDir, "bot.sqlite"))).toBe(true);
    const { rows } = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(h.app!.db);
    expect(rows[0]!.journal_mode).toBe("wal");
  });
});

describe("restart safety", () => {
  it("stopping while Telegram answers an upload waits for the answer and records it, so nothing goes up twice", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/answer.bin", FileServer.randomBytes(100_000, 20));
    await h.start();
    h.api.pauseUploads();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const progress = await h.progressMessageId(since);
    // Every byte is handed over (the socket buffers hold them all); Telegram has not answered yet.
    await h.waitForText(progress, /⬆️ Uploading\n█{16} 100%/, since);
    const stopping = h.stopApp();
    h.api.resumeUploads();
    await stopping;
    const db = openDatabase(path.join(h.dataDir, "bot.sqlite"));
    try {
      expect(await findItem(db, 1)).toMatchObject({ status: "completed" });
      expect((await listItemFiles(db, 1))[0]).toMatchObject({ fileId: expect.any(String) });
    } finally {
      await db.destroy();
    }
    await h.start();
    const later = h.files.addFile("/after.bin", FileServer.randomBytes(5_000, 21));
    const from = h.api.nextSeq;
    h.send(`/download ${later.url}`);
    expect((await h.upload(from)).files[0]!.sha256).toBe(later.sha256);
    expect(h.uploads().map((u) => u.files[0]!.sha256)).toEqual([file.sha256, later.sha256]);
  });

  it("does not upload again a file whose upload was recorded before the process died", async () => {
    h = await Harness.create();
    await h.start();
    const repo = await import("../../src/db/item-repository.ts");
    const now = Date.now();
    await h.stopApp();
    // The state a crash right after the upload leaves: downloaded, file uploaded, item still "uploading".
    // Made while no worker runs (a running one could take the item first).
    const { openDatabase } = await import("../../src/db/database.ts");
    const db2 = openDatabase(path.join(h.dataDir, "bot.sqlite"));
    const inserted = await repo.insertItem(db2, { chatId: CHAT, userId: 1, url: "http://127.0.0.1:9/x.bin", sourceKind: "direct", title: "x.bin", sizeBytes: 3 }, now);
    if (!inserted.inserted) throw new Error("not inserted");
    await repo.claimNextItem(db2, now);
    await repo.markDownloaded(db2, inserted.item.id, [{ path: path.join(h.dataDir, "gone.bin"), name: "x.bin", size: 3 }], now);
    const [file] = await repo.listItemFiles(db2, inserted.item.id);
    await repo.markFileUploaded(db2, file!.id, "FILE-ID-1", "document", now);
    await db2.destroy();

    h.api.addChat(CHAT);
    const since = h.api.nextSeq;
    await h.start();
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    expect(h.uploads()).toEqual([]);
    expect((await repo.findItem(h.app!.db, inserted.item.id))).toMatchObject({ status: "completed" });
    expect((await repo.listItemFiles(h.app!.db, inserted.item.id))[0]).toMatchObject({ fileId: "FILE-ID-1" });
  });
});

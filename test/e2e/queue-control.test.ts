import { existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { COMMANDS } from "../../src/bot/commands.ts";
import { findItem, listItemFiles, listItems } from "../../src/db/item-repository.ts";
import { itemsForMessage, liveMessageOf } from "../../src/db/message-repository.ts";
import { FileServer, type ServedRequest } from "../support/file-server.ts";
import { playableMp4 } from "../support/media.ts";
import { CHAT, Harness, STRANGER_CHAT, USER, isUpload, messageIdOf } from "../support/harness.ts";

let h: Harness;
afterEach(async () => {
  if (h) {
    // Every button press got its answer (the person's app stops spinning).
    expect(h.api.unansweredCallbackQueries()).toEqual([]);
    await h.close();
  }
});

/** Presses a button and resolves with the answer's text once the bot answered. */
async function press(messageId: number, data: string, opts: { chatId?: number; force?: boolean } = {}): Promise<string | undefined> {
  const update = h.api.pressButton(opts.chatId ?? CHAT, messageId, data, { fromId: USER, ...(opts.force ? { force: true } : {}) });
  const id = update.callback_query!.id;
  const call = await h.api.waitForCall((c) => c.method === "answerCallbackQuery" && c.params.callback_query_id === id);
  return call.params.text as string | undefined;
}

/** The user replies to `messageId` with `text`. */
function replyTo(messageId: number, text: string): number {
  return h.api.sendText(CHAT, text, { fromId: USER, replyToMessageId: messageId }).message!.message_id;
}

function buttonsOf(messageId: number): string[] {
  const markup = h.api.chat(CHAT).find((m) => m.message_id === messageId)?.reply_markup;
  return (markup?.inline_keyboard.flat() ?? []).map((b) => ("callback_data" in b ? b.callback_data! : b.text));
}

function gets(p?: string): ServedRequest[] {
  return h.files.requests.filter((r) => r.method === "GET" && (p === undefined || r.path === p));
}

/** An item as stored, with the chat's live message of it (kept by the Telegram side apart from the item). */
async function item(id: number) {
  const stored = (await findItem(h.app!.db, id))!;
  return { ...stored, progressMessageId: (await liveMessageOf(h.app!.db, id)) ?? null };
}

/** Nothing can be awaited to show that nothing happens: watch for a while. */
const quietly = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the progress message's buttons", () => {
  it("pauses a slowed download (no bytes flow), resumes it with Range, and delivers the right bytes", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/slow/big.bin", FileServer.randomBytes(400_000, 21));
    h.files.throttle("/slow/big.bin", 500_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const progress = await h.progressMessageId(since);
    expect(buttonsOf(progress)).toEqual(["q:p:1", "q:c:1"]);
    await h.files.waitForBytes("/slow/big.bin", 60_000);
    // Every edit keeps the buttons.
    await h.api.waitForCall((c) => c.method === "editMessageText" && c.params.message_id === progress && /Downloading/.test(String(c.params.text)));
    expect(buttonsOf(progress)).toEqual(["q:p:1", "q:c:1"]);

    const pressedAt = Date.now();
    expect(await press(progress, "q:p:1")).toBe("Paused");
    const first = gets()[0]!;
    await h.files.waitForRequest((r) => r.seq === first.seq && r.state === "aborted");
    expect(Date.now() - pressedAt).toBeLessThan(1000);
    await h.waitForText(progress, /⏸ Paused/, since);
    expect(buttonsOf(progress)).toEqual(["q:r:1", "q:c:1"]);
    const paused = await item(1);
    expect(paused.status).toBe("paused");
    const partial = (await stat(path.join(h.dataDir, "downloads", "1", "big.bin"))).size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(400_000);

    // Paused means paused: no request, no bytes.
    const sent = first.bytesSent;
    await quietly(400);
    expect(gets()).toHaveLength(1);
    expect(first.bytesSent).toBe(sent);
    expect(h.files.activeTransfers()).toBe(0);

    expect(await press(progress, "q:r:1")).toBe("Resumed");
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    const [, resumed] = gets();
    expect(resumed!.range).toBe(`bytes=${partial}-`);
    expect(resumed!.status).toBe(206);
    expect(resumed!.bytesSent).toBe(400_000 - partial);
    const final = await h.waitForText(progress, /delivered/, since);
    expect(final).toBe("✅ big.bin: delivered (391 KB)");
    expect(buttonsOf(progress)).toEqual([]);
  });

  it("a paused item lets the next one run; resumed, it takes its old place without interrupting anything", async () => {
    h = await Harness.create();
    const [a, b, c] = ["a", "b", "c"].map((n, i) => h.files.addFile(`/o/${n}.bin`, FileServer.randomBytes(150_000, 70 + i)));
    h.files.throttle("/o/a.bin", 300_000);
    h.files.throttle("/o/b.bin", 150_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${a!.url} ${b!.url} ${c!.url}`);
    const progressA = await h.progressMessageId(since);
    await h.files.waitForBytes("/o/a.bin", 30_000);
    expect(await press(progressA, "q:p:1")).toBe("Paused");
    await h.waitForText(progressA, /⏸ Paused/, since);
    await h.files.waitForBytes("/o/b.bin", 20_000);
    expect(await press(progressA, "q:r:1")).toBe("Resumed");
    expect(await h.waitForText(progressA, /Resumed: position 2 in the queue/, since)).toBe(
      "#1 a.bin\n⏳ Waiting in line\nResumed: position 2 in the queue.\n2 waiting in the queue",
    );
    expect(buttonsOf(progressA)).toEqual(["q:p:1", "q:c:1"]);

    let seq = since;
    const uploads = [];
    for (let i = 0; i < 3; i++) {
      const u = await h.upload(seq);
      uploads.push(u.files[0]!.sha256);
      seq = u.seq + 1;
    }
    expect(uploads).toEqual([b!.sha256, a!.sha256, c!.sha256]);
    const order = gets().map((r) => `${r.path} ${r.status}`);
    expect(order).toEqual(["/o/a.bin 200", "/o/b.bin 200", "/o/a.bin 206", "/o/c.bin 200"]);
    expect(gets("/o/b.bin")[0]!.state).toBe("complete");
  });

  it("cancels the running item: its partial file goes, the chat is told, the next item starts", async () => {
    h = await Harness.create();
    const slow = h.files.addFile("/c/slow.bin", FileServer.randomBytes(400_000, 22));
    const next = h.files.addFile("/c/next.bin", FileServer.randomBytes(50_000, 23));
    h.files.throttle("/c/slow.bin", 200_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${slow.url} ${next.url}`);
    const progress = await h.progressMessageId(since);
    await h.files.waitForBytes("/c/slow.bin", 40_000);
    expect(existsSync(path.join(h.dataDir, "downloads", "1"))).toBe(true);

    const pressedAt = Date.now();
    expect(await press(progress, "q:c:1")).toBe("Cancelled");
    const get = gets("/c/slow.bin")[0]!;
    await h.files.waitForRequest((r) => r.seq === get.seq && r.state === "aborted");
    expect(Date.now() - pressedAt).toBeLessThan(1000);
    expect(await h.waitForText(progress, /cancelled/, since)).toBe("✖️ slow.bin: cancelled");
    expect(buttonsOf(progress)).toEqual([]);

    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(next.sha256);
    expect(await item(1)).toMatchObject({ status: "cancelled" });
    expect(existsSync(path.join(h.dataDir, "downloads", "1"))).toBe(false);
    expect(gets().map((r) => r.path)).toEqual(["/c/slow.bin", "/c/next.bin"]);
    expect(h.uploads()).toHaveLength(1);
  });

  it("answers a Cancel press at once even while a reply in the chat waits out a 429", async () => {
    h = await Harness.create();
    const slow = h.files.addFile("/flood/slow.bin", FileServer.randomBytes(400_000, 91));
    h.files.throttle("/flood/slow.bin", 100_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${slow.url}`);
    const progress = await h.progressMessageId(since);
    await h.files.waitForBytes("/flood/slow.bin", 20_000);
    // Telegram floods the chat: the /queue reply has to wait 3 s before it may be sent.
    h.api.failNext("sendMessage", { error_code: 429, description: "Too Many Requests: retry after 3", parameters: { retry_after: 3 } }, 1);
    const queueAsked = h.api.nextSeq;
    h.send("/queue");
    await h.api.waitForCall((c) => c.method === "sendMessage" && c.response?.ok === false, { since: queueAsked });
    const pressedAt = Date.now();
    expect(await press(progress, "q:c:1")).toBe("Cancelled");
    expect(Date.now() - pressedAt).toBeLessThan(1500);
    const transfer = gets("/flood/slow.bin")[0]!;
    await h.files.waitForRequest((r) => r.seq === transfer.seq && r.state === "aborted");
    // The delayed reply still arrives, after its wait.
    await h.reply(queueAsked, CHAT, /Queue|nothing/i);
  });

  it("cancels a paused item (its bytes go) and a retry-waiting one, shown in /queue with its next attempt", async () => {
    h = await Harness.create({ retryDelaysMs: [60_000] });
    const slow = h.files.addFile("/w/slow.bin", FileServer.randomBytes(300_000, 28));
    const flaky = h.files.addFile("/w/flaky.bin", FileServer.randomBytes(10_000, 29));
    h.files.throttle("/w/slow.bin", 200_000);
    h.files.fault("/w/flaky.bin", { kind: "status", status: 503 });
    await h.start();
    let since = h.api.nextSeq;
    h.send(`/download ${slow.url}`);
    const slowProgress = await h.progressMessageId(since);
    await h.files.waitForBytes("/w/slow.bin", 30_000);
    // Pause and Cancel pressed in quick succession.
    const paused = press(slowProgress, "q:p:1");
    const cancelled = press(slowProgress, "q:c:1", { force: true });
    expect([await paused, await cancelled]).toEqual(["Paused", "Cancelled"]);
    expect(await h.waitForText(slowProgress, /cancelled/, since)).toBe("✖️ slow.bin: cancelled");
    expect(buttonsOf(slowProgress)).toEqual([]);
    expect(existsSync(path.join(h.dataDir, "downloads", "1"))).toBe(false);

    since = h.api.nextSeq;
    h.send(`/download ${flaky.url}`);
    const flakyProgress = await h.progressMessageId(since);
    await h.waitForText(flakyProgress, /attempt 1 of 2 failed/, since);
    expect(buttonsOf(flakyProgress)).toEqual(["q:p:2", "q:c:2"]);
    const from = h.api.nextSeq;
    h.send("/queue");
    expect(h.textOf(messageIdOf(await h.reply(from)))).toMatch(/^1\. #2 flaky\.bin · 9\.8 KB · attempt 2 in (59s|1m 0s)$/m);
    expect(await press(flakyProgress, "q:c:2")).toBe("Cancelled");
    expect(await h.waitForText(flakyProgress, /cancelled/, since)).toBe("✖️ flaky.bin: cancelled");
    expect((await listItems(h.app!.db)).map((i) => i.status)).toEqual(["cancelled", "cancelled"]);
    expect(gets()).toHaveLength(2);
  });

  it("pauses an upload (the file stays on disk), and resumed, uploads it again from disk without downloading", async () => {
    h = await Harness.create({ maxFileSizeBytes: 20_000_000 });
    const file = h.files.addFile("/u/large.bin", FileServer.randomBytes(12_000_000, 63));
    await h.start();
    h.api.pauseUploads();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const progress = await h.progressMessageId(since);
    // The upload hangs half-way; the progress message shows the phase, with its buttons.
    const uploading = await h.api.waitForCall(
      (c) => c.method === "editMessageText" && c.params.message_id === progress && /⬆️ Uploading/.test(String(c.params.text)),
      { since },
    );
    expect(String(uploading.params.text)).toMatch(/^#1 <b>large\.bin<\/b>\n⬆️ Uploading\n[█░]{16} \d+%\n[\d.]+ (B|KB|MB) \/ 11\.4 MB · /);
    expect(buttonsOf(progress)).toEqual(["q:p:1", "q:c:1"]);

    expect(await press(progress, "q:p:1")).toBe("Paused");
    await h.waitForText(progress, /⏸ Paused/, since);
    expect(await item(1)).toMatchObject({ status: "paused", downloaded: true });
    expect(existsSync(path.join(h.dataDir, "downloads", "1", "large.bin"))).toBe(true);
    h.api.resumeUploads();

    const from = h.api.nextSeq;
    expect(await press(progress, "q:r:1")).toBe("Resumed");
    const upload = await h.upload(from);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    await h.waitForText(progress, /delivered/, from);
    expect(h.uploads()).toHaveLength(1);
    expect(gets()).toHaveLength(1);
  });

  it("a Cancel while Telegram answers an upload that already went out finds the item delivered", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/u/small.bin", FileServer.randomBytes(100_000, 65));
    await h.start();
    h.api.pauseUploads();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const progress = await h.progressMessageId(since);
    // Every byte is handed over; Telegram has not answered yet.
    await h.waitForText(progress, /⬆️ Uploading\n█{16} 100%/, since);
    const answer = press(progress, "q:c:1");
    h.api.resumeUploads();
    expect(await answer).toBe("Already finished");
    expect(await item(1)).toMatchObject({ status: "completed" });
    expect((await listItemFiles(h.app!.db, 1))[0]).toMatchObject({ fileId: expect.any(String) });
    expect(await h.waitForText(progress, /delivered/, since)).toBe("✅ small.bin: delivered (97.7 KB)");
    expect(h.uploads()).toHaveLength(1);
  });

  it("answers a press from a chat that is not allowed, and one on a finished item, changing nothing", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/done.bin", FileServer.randomBytes(20_000, 24));
    await h.start();
    let since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const progress = await h.progressMessageId(since);
    await h.waitForText(progress, /delivered/, since);
    const editsBefore = h.api.callsOf("editMessageText").length;

    expect(await press(progress, "q:p:1", { force: true })).toBe("Already finished");
    expect(await press(progress, "q:c:1", { force: true })).toBe("Already finished");
    expect(await press(progress, "q:r:1", { force: true })).toBe("Already finished");

    // Someone elsewhere forges a press naming our item on a message of the bot in their chat.
    since = h.api.nextSeq;
    h.api.sendText(STRANGER_CHAT, "/queue", { fromId: 9 });
    const refusal = messageIdOf(await h.reply(since, STRANGER_CHAT));
    expect(await press(refusal, "q:c:1", { chatId: STRANGER_CHAT, force: true })).toBe("Not allowed");
    // A button of a version of the bot that no longer exists.
    expect(await press(progress, "old:button", { force: true })).toBe("This button no longer works");

    expect(await item(1)).toMatchObject({ status: "completed" });
    expect(h.api.callsOf("editMessageText")).toHaveLength(editsBefore);
  });
});

describe("commands", () => {
  it("registers every command with setMyCommands", async () => {
    h = await Harness.create();
    await h.start();
    const names = h.api.commands.map((c) => c.command);
    expect(names).toEqual(COMMANDS.map((c) => c.command));
    for (const c of ["download", "audio", "torrent", "queue", "status", "cancel", "retry", "pause", "resume", "priority", "history", "help"]) {
      expect(names).toContain(c);
    }
    // A listed command is one the bot answers: a dropped handler would fall through to the
    // plain-message feature's "I don't know /x".
    for (const { command } of COMMANDS) {
      const since = h.api.nextSeq;
      h.send(`/${command}`);
      const answer = String((await h.reply(since)).params.text);
      expect(answer, `/${command}`).not.toMatch(/I don't know/);
    }
  });

  it("cancels queued items by id and by replying to their acknowledgement; they are never fetched", async () => {
    h = await Harness.create();
    const running = h.files.addFile("/q/running.bin", FileServer.randomBytes(200_000, 25));
    const second = h.files.addFile("/q/second.bin", FileServer.randomBytes(10_000, 26));
    const third = h.files.addFile("/q/third.bin", FileServer.randomBytes(10_000, 27));
    h.files.throttle("/q/running.bin", 100_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${running.url}`);
    const progress = await h.progressMessageId(since);
    let from = h.api.nextSeq;
    h.send(`/download ${second.url}`);
    await h.reply(from, CHAT, /Queued #2/);
    from = h.api.nextSeq;
    h.send(`/download ${third.url}`);
    const ack3 = messageIdOf(await h.reply(from, CHAT, /Queued #3/));

    from = h.api.nextSeq;
    h.send("/cancel 2");
    expect(String((await h.reply(from, CHAT, /Cancelled/)).params.text)).toBe("✖️ Cancelled #2 <b>second.bin</b>.");
    from = h.api.nextSeq;
    replyTo(ack3, "/cancel");
    expect(String((await h.reply(from, CHAT, /Cancelled/)).params.text)).toBe("✖️ Cancelled #3 <b>third.bin</b>.");
    from = h.api.nextSeq;
    h.send("/cancel 3");
    expect(String((await h.reply(from)).params.text)).toBe("#3 <b>third.bin</b> already finished (cancelled).");
    from = h.api.nextSeq;
    h.send("/cancel");
    expect(String((await h.reply(from)).params.text)).toMatch(/Which download\?/);

    h.files.throttle("/q/running.bin", null);
    await h.waitForText(progress, /delivered/, since);
    expect((await listItems(h.app!.db)).map((i) => i.status)).toEqual(["completed", "cancelled", "cancelled"]);
    expect(gets().map((r) => r.path)).toEqual(["/q/running.bin"]);
  });

  it("/queue lists items with positions and pages with « »", async () => {
    h = await Harness.create();
    const files = Array.from({ length: 13 }, (_, i) => h.files.addFile(`/p/file-${i + 1}.bin`, FileServer.randomBytes(1000 + i, 30 + i)));
    await h.start();
    let from = h.api.nextSeq;
    h.send("/pause");
    await h.reply(from, CHAT, /queue is paused/);
    from = h.api.nextSeq;
    h.send(`/download ${files.map((f) => f.url).join(" ")}`);
    await h.reply(from, CHAT, /Queued #13/);

    from = h.api.nextSeq;
    h.send("/queue");
    const list = await h.reply(from);
    const id = messageIdOf(list);
    let text = h.textOf(id);
    expect(text).toMatch(/^Queue: 13 waiting\n⏸ The queue is paused/);
    expect(text).toContain("1. #1 file-1.bin · 1000 B · queued");
    expect(text).toContain("10. #10 file-10.bin");
    expect(text).not.toContain("#11");
    expect(text).toContain("Page 1 of 2");
    expect(buttonsOf(id)).toEqual(["q:qp:1"]);

    expect(await press(id, "q:qp:1")).toBeUndefined();
    text = await h.waitForText(id, /Page 2 of 2/);
    expect(text).toContain("11. #11 file-11.bin");
    expect(text).toContain("13. #13 file-13.bin");
    expect(text).not.toContain("#10 ");
    expect(buttonsOf(id)).toEqual(["q:qp:0"]);
    expect(await press(id, "q:qp:0")).toBeUndefined();
    await h.waitForText(id, /Page 1 of 2/);
    expect(h.files.requests.filter((r) => r.method === "GET")).toEqual([]);
  });

  it("/priority reorders the queue: higher first, oldest first within a priority", async () => {
    h = await Harness.create();
    const [a, b, c, d] = ["a", "b", "c", "d"].map((n, i) => h.files.addFile(`/prio/${n}.bin`, FileServer.randomBytes(5000, 40 + i)));
    await h.start();
    let from = h.api.nextSeq;
    h.send("/pause");
    await h.reply(from, CHAT, /queue is paused/);
    from = h.api.nextSeq;
    h.send(`/download ${a!.url} ${b!.url} ${c!.url} ${d!.url}`);
    await h.reply(from, CHAT, /Queued #4/);
    from = h.api.nextSeq;
    h.send("/priority 3 high");
    expect(String((await h.reply(from)).params.text)).toBe("#3 <b>c.bin</b> now has high priority: position 1 in the queue.");
    from = h.api.nextSeq;
    h.send("/priority #1 low");
    expect(String((await h.reply(from)).params.text)).toBe("#1 <b>a.bin</b> now has low priority: position 4 in the queue.");
    from = h.api.nextSeq;
    h.send("/priority 2 urgent");
    expect(String((await h.reply(from)).params.text)).toMatch(/^Usage: /);

    from = h.api.nextSeq;
    h.send("/queue");
    const text = h.textOf(messageIdOf(await h.reply(from)));
    expect(text.split("\n").filter((l) => /^\d+\. /.test(l)).map((l) => l.split(" ")[1])).toEqual(["#3", "#2", "#4", "#1"]);

    const since = h.api.nextSeq;
    h.send("/resume");
    let seq = since;
    for (let i = 0; i < 4; i++) seq = (await h.upload(seq)).seq + 1;
    expect(gets().map((r) => r.path)).toEqual(["/prio/c.bin", "/prio/b.bin", "/prio/d.bin", "/prio/a.bin"]);
  });

  it("after /pause, the held item's live message offers to resume the queue, and that button does", async () => {
    h = await Harness.create();
    const big = h.files.addFile("/held/big.bin", FileServer.randomBytes(300_000, 52));
    h.files.throttle("/held/big.bin", 300_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${big.url}`);
    const progress = await h.progressMessageId(since);
    await h.files.waitForBytes("/held/big.bin", 50_000);
    const labels = () => (h.api.chat(CHAT).find((m) => m.message_id === progress)?.reply_markup?.inline_keyboard.flat() ?? []).map((b) => b.text);
    expect(labels()).toEqual(["⏸ Pause", "✖️ Cancel"]);
    h.send("/pause");
    await h.waitForText(progress, /whole queue is paused/, since);
    expect(labels()).toEqual(["▶️ Resume the queue", "✖️ Cancel"]);
    expect(buttonsOf(progress)).toEqual(["q:rq:1", "q:c:1"]);
    h.files.throttle("/held/big.bin", null);
    expect(await press(progress, "q:rq:1")).toBe("The queue runs again");
    expect((await h.upload(since)).files[0]!.sha256).toBe(big.sha256);
    expect(await press(progress, "q:rq:1")).toBe("The queue is not paused");
  });

  it("/help says what the buttons do", async () => {
    h = await Harness.create();
    await h.start();
    const since = h.api.nextSeq;
    h.send("/help");
    expect(String((await h.reply(since)).params.text)).toContain(
      "in the admin chat, stop and continue the whole queue; in any other chat, only that chat's own downloads (the running one included), never another chat's.",
    );
    expect(String((await h.reply(since)).params.text)).toContain(
      "Under a download's live message, ⏸ pauses that download only; while the whole queue is paused, its button in the admin chat resumes the queue.",
    );
  });

  it("/pause stops the running transfer keeping its bytes, survives a restart, and /resume continues it first", async () => {
    h = await Harness.create();
    const big = h.files.addFile("/g/big.bin", FileServer.randomBytes(300_000, 50));
    const small = h.files.addFile("/g/small.bin", FileServer.randomBytes(8000, 51));
    h.files.throttle("/g/big.bin", 300_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${big.url}`);
    const progress = await h.progressMessageId(since);
    await h.files.waitForBytes("/g/big.bin", 50_000);

    let from = h.api.nextSeq;
    h.send("/pause");
    const ack = await h.reply(from);
    expect(String(ack.params.text)).toBe("⏸ The queue is paused: #1 stopped and keeps what it downloaded. Nothing starts until /resume.");
    const first = gets()[0]!;
    await h.files.waitForRequest((r) => r.seq === first.seq && r.state === "aborted");
    expect(await h.waitForText(progress, /whole queue is paused/, since)).toMatch(/⏸ Paused/);
    expect(await item(1)).toMatchObject({ status: "queued" });

    from = h.api.nextSeq;
    h.send(`/download ${small.url}`);
    expect(String((await h.reply(from, CHAT, /Queued/)).params.text)).toMatch(/Queued #2 .*position 2/);
    from = h.api.nextSeq;
    h.send("/pause");
    expect(String((await h.reply(from)).params.text)).toMatch(/already paused/);

    // A restart keeps the queue paused.
    await h.stopApp();
    await h.start();
    from = h.api.nextSeq;
    await h.app!.toolsChecked;
    h.send("/status");
    const status = String((await h.reply(from)).params.text);
    // Debian's yt-dlp (2023.03.04) is years old: /status says so, once the start has asked it.
    expect(status).toMatch(/\n⚠️ yt-dlp 2023\.03\.04 is \d+ days old: sites change and break old versions, so update it on the server/);
    expect(status).toMatch(/Queue: ⏸ paused/);
    expect(status).toMatch(/Items: 0 running · 2 queued/);
    // The free space, not where on the server it is.
    expect(status).toMatch(/\nFree disk space: \d+(\.\d)? [KMGT]?B$/);
    expect(status).not.toContain(h.dataDir);
    await quietly(300);
    expect(gets()).toHaveLength(1);

    from = h.api.nextSeq;
    h.send("/resume");
    expect(String((await h.reply(from)).params.text)).toBe("▶️ The queue runs again.");
    const one = await h.upload(from);
    const two = await h.upload(one.seq + 1);
    expect(one.files[0]!.sha256).toBe(big.sha256);
    expect(two.files[0]!.sha256).toBe(small.sha256);
    const [, again, second] = gets();
    expect(again!.path).toBe("/g/big.bin");
    expect(again!.status).toBe(206);
    expect(Number(again!.range!.slice(6, -1))).toBeGreaterThan(0);
    expect(second!.path).toBe("/g/small.bin");
  });

  it("/retry puts a failed item back, by replying to the failure message", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/r/gone.bin", FileServer.randomBytes(30_000, 52));
    h.files.fault("/r/gone.bin", { kind: "status", status: 404, times: 1 });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const failure = await h.api.waitForCall(
      (c) => c.method === "sendMessage" && /failed/.test(String(c.params.text)) && c.response?.ok === true && !("reply_markup" in c.params),
      { since },
    );
    expect(await item(1)).toMatchObject({ status: "failed" });
    let from = h.api.nextSeq;
    replyTo(messageIdOf(failure), "/retry");
    expect(String((await h.reply(from)).params.text)).toBe("🔁 #1 <b>gone.bin</b> is back in the queue: position 1.");
    const upload = await h.upload(from);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    // A fresh progress message; the failure line stays as it was.
    const progress = await h.progressMessageId(from);
    await h.waitForText(progress, /delivered/, from);
    expect(await item(1)).toMatchObject({ status: "completed", attempts: 0 });
    // That message is the item's (a reply to it names the item), and no longer live.
    expect((await itemsForMessage(h.app!.db, CHAT, progress)).map((i) => i.id)).toEqual([1]);
    expect(progress).not.toBe(messageIdOf(failure));

    from = h.api.nextSeq;
    h.send("/history");
    const history = String((await h.reply(from)).params.text);
    expect(history).toMatch(/^<b>History<\/b>: 1 finished\n\n✅ #1 <b>gone\.bin<\/b> · 29\.3 KB · delivered · \d+s ago$/);
    from = h.api.nextSeq;
    h.send("/retry 1");
    expect(String((await h.reply(from)).params.text)).toMatch(/was delivered\. To download it again, send <code>\/download! /);
  });
});

describe("/pause and /resume without an id: the whole queue from the admin chat only", () => {
  // CHAT is the admin chat (adminChatIds defaults to the first allowed chat); OTHER is not.
  const OTHER = 1002;

  function buttonsIn(chatId: number, messageId: number): string[] {
    const markup = h.api.chat(chatId).find((m) => m.message_id === messageId)?.reply_markup;
    return (markup?.inline_keyboard.flat() ?? []).map((b) => ("callback_data" in b ? b.callback_data! : b.text));
  }

  it("another chat's /pause leaves the admin chat's running download running and pauses only its own items", async () => {
    h = await Harness.create({ allowedChatIds: [CHAT, OTHER] });
    const big = h.files.addFile("/adm/big.bin", FileServer.randomBytes(300_000, 61));
    const x = h.files.addFile("/adm/x.bin", FileServer.randomBytes(5_000, 62));
    const y = h.files.addFile("/adm/y.bin", FileServer.randomBytes(6_000, 63));
    h.files.throttle("/adm/big.bin", 200_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${big.url}`);
    await h.files.waitForBytes("/adm/big.bin", 30_000);
    h.send(`/download ${x.url} ${y.url}`, OTHER);
    await h.reply(since, OTHER, /Queued #3/);

    let from = h.api.nextSeq;
    h.send("/pause", OTHER);
    expect(String((await h.reply(from, OTHER, /Paused/)).params.text)).toBe(
      "⏸ Paused this chat's downloads: #2 and #3. Other chats' downloads go on; /resume continues these.",
    );
    expect(h.app!.worker.queuePaused).toBe(false);
    expect(await item(2)).toMatchObject({ status: "paused" });
    expect(await item(3)).toMatchObject({ status: "paused" });

    // The admin chat's download was never stopped: one GET, delivered whole.
    h.files.throttle("/adm/big.bin", null);
    expect((await h.upload(since)).files[0]!.sha256).toBe(big.sha256);
    expect(gets("/adm/big.bin")).toHaveLength(1);
    expect(gets("/adm/big.bin")[0]!.state).toBe("complete");
    await quietly(300);
    expect(gets("/adm/x.bin")).toEqual([]);
    expect(h.uploads()).toHaveLength(1);

    from = h.api.nextSeq;
    h.send("/resume", OTHER);
    expect(String((await h.reply(from, OTHER, /Resumed/)).params.text)).toBe("▶️ Resumed this chat's downloads: #2 and #3.");
    await h.api.waitForCall(() => h.uploads().length === 3, { since: from });
    expect(h.uploads().slice(1).map((u) => [u.params.chat_id, u.files[0]!.sha256])).toEqual([
      [OTHER, x.sha256],
      [OTHER, y.sha256],
    ]);
  });

  it("another chat's /pause stops its own running download (keeping its bytes), and the admin chat's item runs", async () => {
    h = await Harness.create({ allowedChatIds: [CHAT, OTHER] });
    const mine = h.files.addFile("/own/slow.bin", FileServer.randomBytes(300_000, 64));
    const theirs = h.files.addFile("/own/next.bin", FileServer.randomBytes(20_000, 65));
    h.files.throttle("/own/slow.bin", 200_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${mine.url}`, OTHER);
    await h.files.waitForBytes("/own/slow.bin", 30_000);
    h.send(`/download ${theirs.url}`);
    await h.reply(since, CHAT, /Queued #2/);

    const from = h.api.nextSeq;
    h.send("/pause", OTHER);
    expect(String((await h.reply(from, OTHER, /Paused/)).params.text)).toBe(
      "⏸ Paused this chat's downloads: #1; #1 stopped and keeps what it downloaded. Other chats' downloads go on; /resume continues these.",
    );
    const first = gets("/own/slow.bin")[0]!;
    await h.files.waitForRequest((r) => r.seq === first.seq && r.state === "aborted");
    expect((await h.upload(from)).files[0]!.sha256).toBe(theirs.sha256);
    expect(await item(1)).toMatchObject({ status: "paused" });
    expect((await item(1)).bytesDone).toBeGreaterThan(0);
    expect(h.app!.worker.queuePaused).toBe(false);
  });

  it("the admin chat's /pause holds the whole queue; elsewhere neither /resume nor the live message's button resumes it", async () => {
    h = await Harness.create({ allowedChatIds: [CHAT, OTHER] });
    const file = h.files.addFile("/hold/a.bin", FileServer.randomBytes(300_000, 66));
    h.files.throttle("/hold/a.bin", 200_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`, OTHER);
    const progress = await h.progressMessageId(since, OTHER);
    await h.files.waitForBytes("/hold/a.bin", 30_000);

    let from = h.api.nextSeq;
    h.send("/pause");
    expect(String((await h.reply(from)).params.text)).toBe(
      "⏸ The queue is paused: #1 stopped and keeps what it downloaded. Nothing starts until /resume.",
    );
    const first = gets("/hold/a.bin")[0]!;
    await h.files.waitForRequest((r) => r.seq === first.seq && r.state === "aborted");
    expect(await h.waitForText(progress, /whole queue is paused/, since, OTHER)).toContain(
      "The whole queue is paused by the admin chat: this continues once it resumes.",
    );
    // Only the admin chat is offered to resume the queue; an old button pressed elsewhere is refused.
    expect(buttonsIn(OTHER, progress)).toEqual(["q:p:1", "q:c:1"]);
    expect(await press(progress, "q:rq:1", { chatId: OTHER, force: true })).toBe("Only the admin chat resumes the whole queue");
    from = h.api.nextSeq;
    h.send("/resume", OTHER);
    expect(String((await h.reply(from, OTHER)).params.text)).toBe("▶️ Nothing of this chat is paused.");
    from = h.api.nextSeq;
    h.send("/status", OTHER);
    expect(String((await h.reply(from, OTHER)).params.text)).toMatch(/Queue: ⏸ paused by the admin chat/);
    expect(h.app!.worker.queuePaused).toBe(true);
    expect(await item(1)).toMatchObject({ status: "queued" });

    h.files.throttle("/hold/a.bin", null);
    from = h.api.nextSeq;
    h.send("/resume");
    expect(String((await h.reply(from)).params.text)).toBe("▶️ The queue runs again.");
    expect((await h.upload(from)).files[0]!.sha256).toBe(file.sha256);
  });
});

describe("failure lines", () => {
  it("names its item even when the progress message could not be sent, so a reply /retry works", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/r/lost.bin", FileServer.randomBytes(10_000, 64));
    h.files.fault("/r/lost.bin", { kind: "status", status: 404, times: 1 });
    await h.start();
    let from = h.api.nextSeq;
    h.send("/pause");
    await h.reply(from, CHAT, /queue is paused/);
    from = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    await h.reply(from, CHAT, /Queued #1/);
    // The /resume acknowledgement and the item's progress message both fail to go out.
    h.api.failNext("sendMessage", { error_code: 400, description: "Bad Request: not enough rights to send text messages to the chat" }, 2);
    from = h.api.nextSeq;
    h.send("/resume");
    const failure = await h.reply(from, CHAT, /lost\.bin<\/b>: failed/);
    expect(await item(1)).toMatchObject({ status: "failed", progressMessageId: null });

    from = h.api.nextSeq;
    replyTo(messageIdOf(failure), "/retry");
    expect(String((await h.reply(from)).params.text)).toBe("🔁 #1 <b>lost.bin</b> is back in the queue: position 1.");
    expect((await h.upload(from)).files[0]!.sha256).toBe(file.sha256);
  });
});

describe("a tidy chat", () => {
  it("answers a duplicate URL on the existing item's progress message", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/d/dup.bin", FileServer.randomBytes(200_000, 60));
    h.files.throttle("/d/dup.bin", 200_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const progress = await h.progressMessageId(since);
    const from = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const reply = await h.reply(from, CHAT, /already/);
    expect(String(reply.params.text)).toBe("↺ <b>dup.bin</b> is already in the queue as #1 (downloading).");
    expect((reply.params.reply_parameters as { message_id: number }).message_id).toBe(progress);
    expect(await listItems(h.app!.db)).toHaveLength(1);
    h.files.throttle("/d/dup.bin", null);
    await h.waitForText(progress, /delivered/, since);
  });

  it("re-sends a delivered URL from its file_id without downloading, unless asked for a fresh copy", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/again/clip.mp4", playableMp4(61), { contentType: "video/mp4" });
    await h.start();
    let since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const first = await h.upload(since);
    expect(first.method).toBe("sendVideo");
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    const fileId = (await listItemFiles(h.app!.db, 1))[0]!.fileId!;
    const requestsBefore = h.files.requests.length;

    since = h.api.nextSeq;
    const request = h.send(`/download ${file.url}`);
    const resent = await h.api.waitForCall((c) => isUpload(c) && c.response?.ok === true, { since });
    expect(resent.method).toBe("sendVideo");
    expect(resent.params.video).toBe(fileId);
    expect(resent.files).toEqual([]);
    expect((resent.params.reply_parameters as { message_id: number }).message_id).toBe(request);
    const note = await h.reply(since, CHAT, /delivered here before/);
    expect(String(note.params.text)).toBe("↺ <b>clip.mp4</b> was delivered here before (#1): sent again from Telegram's copy.");
    expect(h.files.requests).toHaveLength(requestsBefore);
    expect(await listItems(h.app!.db)).toHaveLength(1);

    // "Download again" on that reply fetches it anew.
    since = h.api.nextSeq;
    expect(await press(messageIdOf(note), "q:a:1")).toBe("Downloading again");
    const fresh = await h.upload(since);
    expect(fresh.files[0]!.sha256).toBe(file.sha256);
    expect(await item(2)).toMatchObject({ url: file.url });

    // And so does /download!.
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    since = h.api.nextSeq;
    h.send(`/download! ${file.url}`);
    expect(String((await h.reply(since, CHAT, /Queued/)).params.text)).toMatch(/^✓ Queued #3 /);
    expect((await h.upload(since)).files[0]!.sha256).toBe(file.sha256);
    expect(gets("/again/clip.mp4")).toHaveLength(3);
  });

  it("deletes acknowledgements and the delivered line after noticeTtlMs, keeping the file and failures", async () => {
    h = await Harness.create({ noticeTtlMs: 300 });
    const file = h.files.addFile("/t/keep.bin", FileServer.randomBytes(10_000, 62));
    const missing = `${h.files.baseUrl}/t/missing.bin`;
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const ack = messageIdOf(await h.reply(since, CHAT, /Queued/));
    const progress = await h.progressMessageId(since);
    // It started at once: its acknowledgement became its live message, and ends as one.
    expect(progress).toBe(ack);
    const upload = await h.upload(since);
    const deleted = (id: number) => h.api.waitForCall((c) => c.method === "deleteMessage" && c.params.message_id === id && c.response?.ok === true, { since });
    await deleted(ack);
    const visible = h.api.visibleMessages(CHAT).map((m) => m.message_id);
    expect(visible).toContain(messageIdOf(upload));
    expect(visible).not.toContain(ack);
    expect(visible).not.toContain(progress);

    // A refusal is not an acknowledgement: it stays.
    const from = h.api.nextSeq;
    h.send(`/download ${missing}`);
    const refusal = messageIdOf(await h.reply(from, CHAT, /not there/));
    await quietly(500);
    expect(h.api.visibleMessages(CHAT).map((m) => m.message_id)).toContain(refusal);
    expect(h.api.callsOf("deleteMessage").map((c) => c.params.message_id)).toEqual([ack]);
  });
});

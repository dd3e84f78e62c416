import { afterEach, describe, expect, it } from "vitest";
import { listItems } from "../../src/db/item-repository.ts";
import { FileServer } from "../support/file-server.ts";
import { CHAT, Harness, STRANGER_CHAT, USER } from "../support/harness.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const GROUP = -100200;
const HINT = "Send me a link (or several, one per line) and I send the file here; /help lists everything else.";

/** The bot's messages in a chat, as the chat shows them. */
const botTexts = (harness: Harness, chatId: number) => harness.api.visibleMessages(chatId).map((m) => m.text);

describe("messages without a command", () => {
  it("in a private chat, takes a message of links as /download of them", async () => {
    h = await Harness.create();
    const a = h.files.addFile("/bare/a.bin", FileServer.randomBytes(3_000, 41));
    const b = h.files.addFile("/bare/b.bin", FileServer.randomBytes(4_000, 42));
    await h.start();
    const since = h.api.nextSeq;
    h.send(`${a.url}\n${b.url}`);
    expect(String((await h.reply(since, CHAT, /Queued/)).params.text).split("\n")).toEqual([
      "✓ Queued #1 <b>a.bin</b> (2.9 KB): position 1 in the queue.",
      "✓ Queued #2 <b>b.bin</b> (3.9 KB): position 2 in the queue.",
    ]);
    await h.api.waitForCall(() => h!.uploads().length === 2, { since });
    expect(h.uploads().map((u) => u.files[0]!.sha256)).toEqual([a.sha256, b.sha256]);
  });

  it("in a private chat, answers other text and unknown commands with a one-line hint", async () => {
    h = await Harness.create();
    await h.start();
    let since = h.api.nextSeq;
    h.send("hello, what can you do?");
    expect(String((await h.reply(since)).params.text)).toBe(HINT);
    since = h.api.nextSeq;
    h.send("/frobnicate now");
    expect(String((await h.reply(since)).params.text)).toBe(`I don't know /frobnicate. ${HINT}`);
    expect(botTexts(h, CHAT)).toEqual([HINT, `I don't know /frobnicate. ${HINT}`]);
    expect(await listItems(h.app!.db)).toEqual([]);
  });

  it("in a group, reads only what is addressed to the bot", async () => {
    h = await Harness.create({ allowedChatIds: [CHAT, GROUP] });
    const file = h.files.addFile("/group/clip.bin", FileServer.randomBytes(5_000, 43));
    await h.start();
    // People talking about a link: not for the bot.
    h.api.sendText(GROUP, `look at this ${file.url}`, { fromId: USER, chatType: "supergroup" });
    h.api.sendText(GROUP, file.url, { fromId: USER, chatType: "supergroup" });
    const since = h.api.nextSeq;
    // Addressed to the bot: downloaded.
    h.api.sendText(GROUP, `@test_bot ${file.url}`, { fromId: USER, chatType: "supergroup" });
    expect(String((await h.reply(since, GROUP, /Queued/)).params.text)).toMatch(/^✓ Queued #1 <b>clip\.bin<\/b>/);
    expect((await h.upload(since)).files[0]!.sha256).toBe(file.sha256);
    expect((await listItems(h.app!.db)).map((i) => i.url)).toEqual([file.url]);
    expect(h.files.requests.filter((r) => r.method === "HEAD")).toHaveLength(1);
  });

  it("refuses a link from a private chat that is not allowed", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/nope.bin", FileServer.randomBytes(1_000, 44));
    await h.start();
    const since = h.api.nextSeq;
    h.api.sendText(STRANGER_CHAT, file.url, { fromId: 777 });
    expect(String((await h.reply(since, STRANGER_CHAT)).params.text)).toMatch(/^Sorry, this bot only works in the chats it was set up for/);
    expect(h.files.requests).toEqual([]);
  });
});

describe("the live message", () => {
  it("shows the item's id, the time it has taken, and the upload's speed and ETA", async () => {
    h = await Harness.create();
    // Big enough that the socket's buffers cannot take it all at once: the bar follows the server.
    const file = h.files.addFile("/up.bin", FileServer.randomBytes(12 * 1024 * 1024, 45));
    h.api.throttleUploads(4 * 1024 * 1024);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const progress = await h.progressMessageId(since);
    const uploading = await h.waitForText(progress, /Uploading\n[█░]{16} [1-8]?\d%[\s\S]*ETA \d/, since);
    expect(uploading).toMatch(/^#1 up\.bin\n⬆️ Uploading\n[█░]{16} \d+%\n[\d.]+ MB \/ 12\.0 MB · [\d.]+ MB\/s · ETA \d+s · \d+s elapsed\nnothing else waiting$/);
    h.api.throttleUploads(null);
    expect((await h.upload(since)).files[0]!.sha256).toBe(file.sha256);
  });

  it("says it is reading the page while it does", async () => {
    h = await Harness.create();
    const page = h.files.addHtml("/slow-page.html", `<html><head><title>Slow</title></head><body>${"<p>text</p>".repeat(2000)}</body></html>`);
    h.files.throttle("/slow-page.html", 4_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const progress = await h.progressMessageId(since);
    expect(await h.waitForText(progress, /reading the page/, since)).toMatch(/^#1 slow-page\.html\n⬇️ Downloading · \d+s elapsed\nreading the page\nnothing else waiting$/);
    h.files.throttle("/slow-page.html", null);
    expect(String((await h.reply(since, CHAT, /failed/)).params.text)).toMatch(/^❌ <b>Slow<\/b>: failed: no downloadable media was found on the page/);
  });
});

describe("a tidy chat", () => {
  it("items of a chat that run back to back share its live message", async () => {
    h = await Harness.create();
    const a = h.files.addFile("/b2b/a.bin", FileServer.randomBytes(100_000, 46));
    const b = h.files.addFile("/b2b/b.bin", FileServer.randomBytes(100_000, 47));
    h.files.throttle("/b2b/b.bin", 50_000);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${a.url} ${b.url}`);
    const live = await h.progressMessageId(since);
    expect(await h.waitForText(live, /b\.bin(<\/b>)?\n⬇️ Downloading/, since)).toMatch(/^#2 b\.bin/);
    h.files.throttle("/b2b/b.bin", null);
    await h.api.waitForCall(() => h!.uploads().length === 2, { since });
    expect(await h.waitForText(live, /b\.bin(<\/b>)?: delivered/, since)).toBe("✅ b.bin: delivered (97.7 KB)");
    expect(h.progressMessages(since)).toEqual([live]);
  });


  it("a page listing 20 files leaves the 20 files and at most 3 bot messages once the transient ones are gone", async () => {
    h = await Harness.create({ noticeTtlMs: 300 });
    const names = Array.from({ length: 20 }, (_, i) => `part${String(i + 1).padStart(2, "0")}.mp3`);
    const files = names.map((n, i) => h!.files.addFile(`/set/${n}`, FileServer.randomBytes(2_000 + i, 200 + i)));
    const rows = names.map((n) => `<a href="${n}">${n}</a>`).join("\n");
    const page = h.files.addHtml("/set/", `<html><head><title>Index of /set/</title></head><body><pre>${rows}</pre></body></html>`);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    await h.api.waitForCall(() => h!.uploads().length === 20, { since });
    expect(h.uploads().map((u) => u.files[0]!.sha256)).toEqual(files.map((f) => f.sha256));

    const notFiles = () => h!.api.visibleMessages(CHAT).filter((m) => m.kind === "text");
    // The transient ones (acknowledgement, live messages and their delivered lines) go after noticeTtlMs.
    await h.api.waitForCall(() => notFiles().every((m) => !/Queued|delivered|waiting/.test(m.text ?? "")), { since });
    expect(notFiles().length).toBeLessThanOrEqual(3);
    expect(h.api.visibleMessages(CHAT).filter((m) => m.kind !== "text")).toHaveLength(20);
    expect(notFiles().map((m) => m.text)).toEqual(["📄 Index of /set/: 20 files found, all queued."]);
    // Along the way, the items shared a few live messages instead of one each: each was sent anew
    // only once the files had pushed the one before out of sight.
    const live = h.progressMessages(since);
    expect(live.length).toBeGreaterThanOrEqual(2);
    expect(live.length).toBeLessThanOrEqual(8);
  });
});


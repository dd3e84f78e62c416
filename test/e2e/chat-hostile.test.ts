import { afterEach, describe, expect, it } from "vitest";
import type { RecordedCall } from "../support/bot-api-double.ts";
import { FileServer } from "../support/file-server.ts";
import { CHAT, Harness, STRANGER_CHAT, USER } from "../support/harness.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Every text the bot ever put into a chat, edits included. */
const everyText = (harness: Harness, chatId: number) =>
  harness.api.calls
    .filter((c) => (c.method === "sendMessage" || c.method === "editMessageText") && c.params.chat_id === chatId)
    .map((c) => String(c.params.text));

/** The first text sent or edited in the chat after `since` that matches. */
function line(harness: Harness, since: number, match: RegExp, chatId = CHAT): Promise<RecordedCall> {
  return harness.api.waitForCall(
    (c) =>
      (c.method === "sendMessage" || c.method === "editMessageText") &&
      c.params.chat_id === chatId &&
      c.response?.ok === true &&
      match.test(String(c.params.text)),
    { since },
  );
}

/** Collects the process's unhandled rejections while `work` runs. */
async function noUnhandledRejections(work: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  process.on("unhandledRejection", listener);
  try {
    await work();
    // A rejection nobody handles is reported once the microtasks of its turn ran: let one pass.
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off("unhandledRejection", listener);
  }
  return seen;
}

describe("a .torrent document Telegram will not hand out", () => {
  it("a refused file_id and a file over 20 MB, behind a slow link of the same chat: one clear line each, no unhandled rejection", async () => {
    h = await Harness.create();
    const slow = h.files.addFile("/slow/a.bin", FileServer.randomBytes(2_000, 81));
    h.files.fault("/slow/a.bin", { kind: "holdHead", times: 1 });
    await h.start();
    const harness = h;
    const rejections = await noUnhandledRejections(async () => {
      const since = harness.api.nextSeq;
      // The chat's answers come in the order asked: the documents' refusals wait behind the link.
      harness.send(`/download ${slow.url}`);
      await harness.files.waitForHeldHead("/slow/a.bin");
      const gone = harness.api.sendDocument(CHAT, { bytes: Buffer.from("d4:infoe"), fileName: "gone.torrent" }, { fromId: USER });
      harness.api.refuseFile(gone.message!.document!.file_id);
      // As the cloud Bot API answers for a file over 20 MB.
      const huge = harness.api.sendDocument(CHAT, { bytes: Buffer.from("d4:infoe"), fileName: "huge.torrent" }, { fromId: USER });
      harness.api.refuseFile(huge.message!.document!.file_id, "Bad Request: file is too big");
      await harness.api.waitForCall(() => harness.api.callsOf("getFile").filter((c) => c.response?.ok === false).length === 2, { since });
      harness.files.releaseStalls("/slow/a.bin");
      const lines = async (name: RegExp) => String((await line(harness, since, name)).params.text).split("\n");
      expect(await lines(/gone\.torrent/)).toContain(
        "✗ gone.torrent: Telegram would not hand out the file (Bad Request: invalid file_id); send the .torrent file again.",
      );
      expect(await lines(/huge\.torrent/)).toContain("✗ huge.torrent: Telegram does not hand out files that large to bots (over 20 MB).");
      expect((await harness.upload(since)).files[0]!.sha256).toBe(slow.sha256);
    });
    expect(rejections).toEqual([]);
    // A 400 does not heal: each asked once, not retried.
    expect(h.api.callsOf("getFile")).toHaveLength(2);
  });
});

describe("a Bot API error without a description", () => {
  it("a refused upload says what Telegram answered, never 'undefined'", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/nodesc/a.bin", FileServer.randomBytes(3_000, 82));
    await h.start();
    const since = h.api.nextSeq;
    h.api.failNext("sendDocument", { error_code: 400 });
    h.send(`/download ${file.url}`);
    const failure = await line(h, since, /a\.bin.*failed/);
    expect(String(failure.params.text)).toContain("Telegram refused the upload (Bad Request (400)).");
    expect(everyText(h, CHAT).filter((t) => /undefined/i.test(t))).toEqual([]);
  });

  it("a refused getFile of a .torrent document says what Telegram answered, never 'undefined'", async () => {
    h = await Harness.create();
    await h.start();
    const since = h.api.nextSeq;
    h.api.failNext("getFile", { error_code: 400 });
    h.api.sendDocument(CHAT, { bytes: Buffer.from("d4:infoe"), fileName: "nodesc.torrent" }, { fromId: USER });
    expect(String((await line(h, since, /nodesc\.torrent/)).params.text)).toBe(
      "✗ nodesc.torrent: Telegram would not hand out the file (Bad Request (400)); send the .torrent file again.",
    );
    expect(everyText(h, CHAT).filter((t) => /undefined/i.test(t))).toEqual([]);
  });
});

describe("strangers", () => {
  it("a chat that is not allowed gets its refusals and leaves nothing behind in the bot", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/stranger/a.bin", FileServer.randomBytes(1_000, 83));
    await h.start();
    const since = h.api.nextSeq;
    h.api.sendText(STRANGER_CHAT, "/start", { fromId: 777 });
    h.api.sendText(STRANGER_CHAT, `/download ${file.url}`, { fromId: 777 });
    h.api.sendText(STRANGER_CHAT, "just chatting", { fromId: 777 });
    await h.api.waitForCall(() => h!.api.callsOf("sendMessage").filter((c) => c.params.chat_id === STRANGER_CHAT && c.seq >= since).length === 3, { since });
    expect(everyText(h, STRANGER_CHAT)).toEqual(
      Array(3).fill(
        `Sorry, this bot only works in the chats it was set up for. This chat's id is ${STRANGER_CHAT}; the bot's owner can add it to allowedChatIds.`,
      ),
    );
    // Neither their messages nor the bot's refusals made the bot keep anything for that chat.
    expect(h.app!.reporter.tracksChat(STRANGER_CHAT)).toBe(false);
    expect(h.files.requests).toEqual([]);
    // An allowed chat is tracked as before (its live message must know what pushed it out of sight).
    h.send("hello");
    await h.reply(since, CHAT);
    expect(h.app!.reporter.tracksChat(CHAT)).toBe(true);
  });
});

/**
 * Proves the test doubles against the real clients: grammY's Bot/Api over HTTP for the Bot API
 * double (JSON and multipart requests exactly as grammY builds them), and plain node:http for
 * the file server (so byte counts and cut connections are observed precisely).
 */
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Api, Bot, GrammyError, InlineKeyboard, InputFile, InputMediaBuilder } from "grammy";
import type { Message } from "grammy/types";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BotApiDouble, NOT_MODIFIED, tooManyRequests } from "./support/bot-api-double.ts";
import { FileServer } from "./support/file-server.ts";

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

/** Runs `fn` and returns the GrammyError it must throw. */
async function grammyError(fn: () => Promise<unknown>): Promise<GrammyError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof GrammyError) return err;
    throw err;
  }
  throw new Error("expected a GrammyError");
}

describe("BotApiDouble", () => {
  let double: BotApiDouble;
  let api: Api;
  let bot: Bot | undefined;
  let running: Promise<void> | undefined;
  let dir: string;

  beforeEach(async () => {
    double = await BotApiDouble.start();
    api = new Api(double.token, { apiRoot: double.apiRoot });
    dir = await mkdtemp(join(tmpdir(), "doubles-test-"));
  });

  afterEach(async () => {
    if (bot?.isRunning()) await bot.stop();
    await running;
    bot = undefined;
    running = undefined;
    await double.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts long polling and resolves once grammY is polling. */
  async function startBot(b: Bot): Promise<void> {
    bot = b;
    await new Promise<void>((resolve, reject) => {
      running = b.start({ drop_pending_updates: false, onStart: () => resolve() }).catch((err: unknown) => {
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  it("delivers an injected message to a polling grammY bot and shows its reply in the chat", async () => {
    const b = new Bot(double.token, { client: { apiRoot: double.apiRoot } });
    b.command("start", (ctx) => ctx.reply("Welcome"));
    b.on("message:text", (ctx) =>
      ctx.reply(`Got <b>${ctx.message.text}</b>`, {
        parse_mode: "HTML",
        reply_markup: new InlineKeyboard().text("Cancel", "cancel:1"),
        reply_parameters: { message_id: ctx.message.message_id },
      }),
    );
    await startBot(b);

    // Commands carry a bot_command entity, which is what bot.command() matches on.
    const since = double.nextSeq;
    const start = double.sendText(1001, "/start");
    expect(start.message?.entities).toEqual([{ type: "bot_command", offset: 0, length: 6 }]);
    await double.waitForCall("sendMessage", { since });

    const hello = double.sendText(1001, "hello");
    await double.waitForCall((c) => c.method === "sendMessage" && c.params["parse_mode"] === "HTML");

    const chat = double.chat(1001);
    expect(chat).toHaveLength(2);
    expect(chat[0]).toMatchObject({ kind: "text", text: "Welcome", deleted: false, edits: 0 });
    expect(chat[1]).toMatchObject({
      kind: "text",
      text: "Got hello",
      entities: [{ type: "bold", offset: 4, length: 5 }],
      reply_markup: { inline_keyboard: [[{ text: "Cancel", callback_data: "cancel:1" }]] },
      reply_to_message_id: hello.message?.message_id,
    });
    // User and bot messages share the chat's message_id sequence.
    expect(chat.map((m) => m.message_id)).toEqual([2, 4]);
    expect(double.callsOf("getMe")).toHaveLength(1);
    // grammY sends drop_pending_updates even when false (it only strips null/undefined).
    expect(double.callsOf("deleteWebhook")[0]?.params).toEqual({ drop_pending_updates: false });
  });

  it("turns a button press into a callback query and tracks its answer and the edit", async () => {
    const b = new Bot(double.token, { client: { apiRoot: double.apiRoot } });
    b.callbackQuery(/^cancel:(\d+)$/, async (ctx) => {
      await ctx.answerCallbackQuery({ text: "Cancelled" });
      await ctx.editMessageText("Download cancelled"); // no reply_markup: the keyboard goes away
    });
    await startBot(b);

    const sent = await api.sendMessage(1001, "Downloading…", {
      reply_markup: new InlineKeyboard().text("Cancel", "cancel:7"),
    }).catch((err: unknown) => err);
    // The chat was never seen: Telegram refuses to write to it.
    expect(sent).toBeInstanceOf(GrammyError);
    expect((sent as GrammyError).description).toBe("Bad Request: chat not found");

    double.addChat(1001);
    const msg = await api.sendMessage(1001, "Downloading…", {
      reply_markup: new InlineKeyboard().text("Cancel", "cancel:7"),
    });
    expect(() => double.pressButton(1001, msg.message_id, "nope")).toThrow(/no button with data "nope"/);
    double.pressButton(1001, msg.message_id, "cancel:7");

    await double.waitForCall("editMessageText");
    const [view] = double.chat(1001);
    expect(view).toMatchObject({ text: "Download cancelled", edits: 1 });
    expect(view?.reply_markup).toBeUndefined();
    expect(double.unansweredCallbackQueries()).toEqual([]);
    expect(double.callbackQueries()[0]).toMatchObject({ data: "cancel:7", answered: true, answer: { text: "Cancelled" } });

    // A query can be answered once only.
    const again = await grammyError(() => api.answerCallbackQuery(double.callbackQueries()[0]?.id ?? ""));
    expect(again.description).toBe("Bad Request: query is too old and response timeout expired or query ID is invalid");
  });

  it("receives grammY multipart uploads from disk, streams and hashes them, and serves them back", async () => {
    double.addChat(1001);
    const bytes = FileServer.randomBytes(300_000, 7);
    // grammY puts the file name unquoted into the part header; spaces and non-ASCII must survive.
    const fileName = "My Video (1) – été.mp4";
    const onDisk = join(dir, fileName);
    await writeFile(onDisk, bytes);

    const msg = await api.sendVideo(1001, new InputFile(onDisk), {
      caption: "<i>done</i>",
      parse_mode: "HTML",
      supports_streaming: true,
      width: 640,
      height: 360,
      duration: 12,
      reply_markup: new InlineKeyboard().url("Source", "https://example.com/a"),
    });
    expect(msg.video).toMatchObject({ width: 640, height: 360, duration: 12, file_name: fileName, file_size: bytes.length });
    expect(msg.caption).toBe("done");

    const call = double.callsOf("sendVideo")[0];
    expect(call?.files).toHaveLength(1);
    const file = call?.files[0];
    expect(file).toMatchObject({ filename: fileName, size: bytes.length, sha256: sha256(bytes), tooLarge: false });
    // The param references the part by a random id, and JSON fields arrive decoded.
    expect(call?.params["video"]).toBe(`attach://${file?.field}`);
    expect(call?.params).toMatchObject({ chat_id: 1001, supports_streaming: true, width: 640 });
    expect(call?.params["reply_markup"]).toEqual({ inline_keyboard: [[{ text: "Source", url: "https://example.com/a" }]] });
    expect((await readFile(file?.path ?? "")).equals(bytes)).toBe(true); // (toEqual on big Buffers is slow)
    expect(double.chat(1001)[0]).toMatchObject({ kind: "video", caption: "done", sha256: sha256(bytes), file_name: fileName });

    // Re-sending by file_id needs no upload and keeps the file_id.
    const fileId = msg.video?.file_id ?? "";
    const resent = await api.sendVideo(1001, fileId);
    expect(resent.video?.file_id).toBe(fileId);
    const unknown = await grammyError(() => api.sendDocument(1001, "no-such-file-id"));
    expect(unknown.description).toBe("Bad Request: wrong file identifier/HTTP URL specified");

    // getFile + /file/ download return the very bytes.
    const info = await api.getFile(fileId);
    const res = await fetch(`${double.apiRoot}/file/bot${double.token}/${info.file_path}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it("accepts a document upload from a Buffer and a part named after the param", async () => {
    double.addChat(1001);
    const doc = await api.sendDocument(1001, new InputFile(Buffer.from("hello"), "hello.txt"));
    expect(doc.document).toMatchObject({ file_name: "hello.txt", mime_type: "text/plain", file_size: 5 });

    // Other clients send the file in a part named "document" with no attach:// indirection.
    const form = new FormData();
    form.append("chat_id", "1001");
    form.append("document", new Blob([Buffer.from("raw part")]), "raw.bin");
    const res = await fetch(`${double.apiRoot}/bot${double.token}/sendDocument`, { method: "POST", body: form });
    const body = (await res.json()) as { ok: boolean; result: { document: { file_name: string } } };
    expect(body.ok).toBe(true);
    expect(body.result.document.file_name).toBe("raw.bin");
    expect(double.callsOf("sendDocument")[1]?.files[0]).toMatchObject({ field: "document", size: 8, sha256: sha256(Buffer.from("raw part")) });
  });

  it("answers 413 for uploads over the limit, and records uploads the bot cancels mid-way", async () => {
    const small = await BotApiDouble.start({ maxUploadBytes: 1000 });
    try {
      small.addChat(1);
      const smallApi = new Api(small.token, { apiRoot: small.apiRoot });
      const err = await grammyError(() => smallApi.sendDocument(1, new InputFile(Buffer.alloc(1001), "big.bin")));
      expect(err.error_code).toBe(413);
      expect(err.description).toBe("Request Entity Too Large");
      expect(small.chat(1)).toEqual([]);
    } finally {
      await small.stop();
    }

    double.addChat(1001);
    double.pauseUploads(); // the upload hangs after its first chunk: the bot is "uploading"
    const abort = new AbortController();
    const since = double.nextSeq;
    async function* endless(): AsyncIterable<Uint8Array> {
      for (;;) yield new Uint8Array(64 * 1024); // until grammY destroys it on abort
    }
    // grammY types the signal as the abort-controller polyfill's; the global one works the same.
    const signal = abort.signal as Parameters<Api["sendDocument"]>[3];
    const upload = api.sendDocument(1001, new InputFile(endless(), "slow.bin"), {}, signal);
    const partial = await double.waitForUploadBytes(1);
    expect(partial).toMatchObject({ filename: "slow.bin", complete: false });
    expect(double.uploadsInFlight()).toHaveLength(1);
    abort.abort();
    await expect(upload).rejects.toThrow();
    double.resumeUploads(); // reading on, the double finds the body cut short
    const call = await double.waitForCall("sendDocument", { since });
    expect(call.response).toBeNull();
    expect(call.files[0]).toMatchObject({ filename: "slow.bin", complete: false });
    expect(double.uploadsInFlight()).toEqual([]);
    expect(double.chat(1001)).toEqual([]);
  });

  it("parses multipart bodies however they are chunked", async () => {
    const { readMultipart } = await import("./support/multipart.ts");
    const boundary = "----------x9";
    const file = FileServer.randomBytes(5000, 3);
    // A file that contains a near-boundary must not be cut there.
    file.write(`\r\n--${boundary.slice(0, -1)}`, 1234, "latin1");
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\ncontent-disposition:form-data;name="chat_id"\r\n\r\n5\r\n--${boundary}\r\n`),
      Buffer.from(`content-disposition:form-data;name="abc";filename=a b(1).bin\r\ncontent-type:application/octet-stream\r\n\r\n`),
      file,
      // A field after the file: what follows a delimiter split across chunks is read too.
      Buffer.from(`\r\n--${boundary}\r\ncontent-disposition:form-data;name="caption"\r\n\r\nhi\r\n--${boundary}--\r\n`),
    ]);
    // 14 to 17 bytes: the 16-byte delimiter falls across two chunks in every possible way.
    for (const step of [1, 2, 7, 14, 15, 16, 17, 64, 999, body.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < body.length; i += step) chunks.push(body.subarray(i, i + step));
      const fields: Record<string, string> = {};
      const got: Buffer[] = [];
      let name = "";
      await readMultipart(
        (async function* () {
          yield* chunks;
        })(),
        boundary,
        {
          field: (k, v) => {
            fields[k] = v;
          },
          file: (info) => {
            name = `${info.name}:${info.filename}`;
            return { write: (c) => void got.push(Buffer.from(c)), end: () => undefined, abort: () => undefined };
          },
        },
      );
      expect(fields).toEqual({ chat_id: "5", caption: "hi" });
      expect(name).toBe("abc:a b(1).bin");
      expect(Buffer.concat(got).equals(file)).toBe(true);
    }
  });

  it("answers an identical edit with 'message is not modified' and drops the keyboard on a bare edit", async () => {
    double.addChat(1001);
    const keyboard = new InlineKeyboard().text("Cancel", "c");
    const msg = await api.sendMessage(1001, "50%", { reply_markup: keyboard });

    const err = await grammyError(() => api.editMessageText(1001, msg.message_id, "50%", { reply_markup: keyboard }));
    expect(err.error_code).toBe(400);
    expect(err.description).toBe(NOT_MODIFIED);

    await api.editMessageText(1001, msg.message_id, "50%"); // same text, keyboard removed: a change
    expect(double.chat(1001)[0]).toMatchObject({ text: "50%", edits: 1 });
    expect(double.chat(1001)[0]?.reply_markup).toBeUndefined();
    const again = await grammyError(() => api.editMessageText(1001, msg.message_id, "50%"));
    expect(again.description).toBe(NOT_MODIFIED);

    await api.deleteMessage(1001, msg.message_id);
    expect(double.chat(1001)[0]?.deleted).toBe(true);
    const gone = await grammyError(() => api.editMessageText(1001, msg.message_id, "60%"));
    expect(gone.description).toBe("Bad Request: message to edit not found");
    const gone2 = await grammyError(() => api.deleteMessage(1001, msg.message_id));
    expect(gone2.description).toBe("Bad Request: message to delete not found");
  });

  it("validates text, HTML and buttons like Telegram", async () => {
    double.addChat(1001);
    const desc = async (fn: () => Promise<unknown>): Promise<string> => (await grammyError(fn)).description;

    expect(await desc(() => api.sendMessage(1001, ""))).toBe("Bad Request: message text is empty");
    expect(await desc(() => api.sendMessage(1001, "<b></b>", { parse_mode: "HTML" }))).toBe(
      "Bad Request: message text is empty",
    );
    expect(await desc(() => api.sendMessage(1001, "x".repeat(4097)))).toBe("Bad Request: message is too long");
    // The limit applies after entity parsing: markup does not count.
    await api.sendMessage(1001, `<b>${"x".repeat(4096)}</b>`, { parse_mode: "HTML" });
    expect(await desc(() => api.sendMessage(1001, "<b>open", { parse_mode: "HTML" }))).toBe(
      `Bad Request: can't parse entities: Can't find end tag corresponding to start tag "b"`,
    );
    expect(await desc(() => api.sendMessage(1001, "1 < 2", { parse_mode: "HTML" }))).toBe(
      `Bad Request: can't parse entities: Unsupported start tag "" at byte offset 2`,
    );
    expect(await desc(() => api.sendMessage(1001, "<p>x</p>", { parse_mode: "HTML" }))).toBe(
      `Bad Request: can't parse entities: Unsupported start tag "p" at byte offset 0`,
    );
    expect(await desc(() => api.sendMessage(1001, "<b>x</i>", { parse_mode: "HTML" }))).toBe(
      `Bad Request: can't parse entities: Unmatched end tag at byte offset 4, expected "</b>", found "</i>"`,
    );
    // As on Telegram, a '&' that starts no entity is plain text, and entities decode.
    const ok = await api.sendMessage(1001, `a=1&b=2 &lt;tag&gt; <a href="https://x.org/?a=1&amp;b=2">link</a>`, {
      parse_mode: "HTML",
    });
    expect(ok.text).toBe("a=1&b=2 <tag> link");
    expect(ok.entities).toEqual([{ type: "text_link", offset: 14, length: 4, url: "https://x.org/?a=1&b=2" }]);

    expect(
      await desc(() => api.sendMessage(1001, "x", { reply_markup: new InlineKeyboard().text("y", "d".repeat(65)) })),
    ).toBe("Bad Request: BUTTON_DATA_INVALID");
    expect(await desc(() => api.sendDocument(1001, new InputFile(Buffer.from("x"), "a.txt"), { caption: "c".repeat(1025) }))).toBe(
      "Bad Request: message caption is too long",
    );
  });

  it("answers failNext errors in the real 429 shape, with the HTTP status as error code", async () => {
    double.addChat(1001);
    double.failNext("sendMessage", tooManyRequests(7));

    const err = await grammyError(() => api.sendMessage(1001, "hi"));
    expect(err.error_code).toBe(429);
    expect(err.description).toBe("Too Many Requests: retry after 7");
    expect(err.parameters.retry_after).toBe(7);
    const failed = double.callsOf("sendMessage")[0];
    expect(failed?.response).toEqual({
      ok: false,
      error_code: 429,
      description: "Too Many Requests: retry after 7",
      parameters: { retry_after: 7 },
    });
    expect(double.chat(1001)).toEqual([]); // not performed

    await api.sendMessage(1001, "hi"); // only the next call failed
    expect(double.chat(1001)).toHaveLength(1);

    double.failNext("sendMessage", { error_code: 403, description: "Forbidden: bot was blocked by the user" });
    const raw = await fetch(`${double.apiRoot}/bot${double.token}/sendMessage?chat_id=1001&text=x`);
    expect(raw.status).toBe(403);
    expect((await fetch(`${double.apiRoot}/botWRONG/getMe`)).status).toBe(401);
    const unknown = await fetch(`${double.apiRoot}/bot${double.token}/sendSticker`, { method: "POST" });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ ok: false, error_code: 404, description: "Not Found" });
  });

  it("serves injected documents through getFile and refuses files over the download limit", async () => {
    const bytes = Buffer.from("d8:announce...e");
    const update = double.sendDocument(1001, { bytes, fileName: "ubuntu.torrent" }, { caption: "please" });
    const doc = update.message?.document;
    expect(doc).toMatchObject({ file_name: "ubuntu.torrent", mime_type: "application/x-bittorrent", file_size: bytes.length });

    const file = await api.getFile(doc?.file_id ?? "");
    expect(file.file_path).toMatch(/^documents\/file_\d+\.torrent$/);
    const res = await fetch(`${double.apiRoot}/file/bot${double.token}/${file.file_path}`);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
    expect((await grammyError(() => api.getFile("nope"))).description).toBe("Bad Request: invalid file_id");

    const small = await BotApiDouble.start({ maxDownloadBytes: 4 });
    try {
      const big = small.sendDocument(1, { bytes, fileName: "x.bin" }).message?.document?.file_id ?? "";
      const smallApi = new Api(small.token, { apiRoot: small.apiRoot });
      expect((await grammyError(() => smallApi.getFile(big))).description).toBe("Bad Request: file is too big");
    } finally {
      await small.stop();
    }
  });

  it("takes albums of 2 to 10 files, documents only with documents, as Telegram does", async () => {
    double.addChat(1001);
    const doc = (n: number) => InputMediaBuilder.document(new InputFile(Buffer.from(`part ${n}`), `f.${n}`), { caption: `Part ${n}` });
    const messages = (await api.sendMediaGroup(1001, [doc(1), doc(2), doc(3)])) as Message[];
    expect(messages.map((m) => [m.document?.file_name, m.caption])).toEqual([
      ["f.1", "Part 1"],
      ["f.2", "Part 2"],
      ["f.3", "Part 3"],
    ]);
    expect(new Set(messages.map((m) => m.media_group_id)).size).toBe(1);
    expect(double.callsOf("sendMediaGroup")[0]?.files.map((f) => f.filename)).toEqual(["f.1", "f.2", "f.3"]);
    expect((await grammyError(() => api.sendMediaGroup(1001, [doc(1)]))).error_code).toBe(400);
    expect((await grammyError(() => api.sendMediaGroup(1001, Array.from({ length: 11 }, (_, i) => doc(i))))).error_code).toBe(400);
    const video = InputMediaBuilder.video(new InputFile(Buffer.from("v"), "v.mp4"));
    const mixed = await grammyError(() => api.sendMediaGroup(1001, [doc(1), video] as never));
    expect(mixed.description).toBe("Bad Request: document can't be mixed with other media types");
  });

  it("holds long polls until an update arrives, ends them on stop, and explains waitForCall timeouts", async () => {
    const first = api.getUpdates({ timeout: 50 });
    await double.waitForPendingPoll();
    // A second poller terminates the first one, as Telegram does with two bot instances.
    const poll = api.getUpdates({ timeout: 50 });
    const conflict = await grammyError(() => first);
    expect(conflict.error_code).toBe(409);
    expect(conflict.description).toMatch(/^Conflict: terminated by other getUpdates request/);
    await double.waitForPendingPoll(); // the poll is held: the update must wake it
    const update = double.sendText(5, "ping");
    expect((await poll).map((u) => u.update_id)).toEqual([update.update_id]);

    // Updates stay until confirmed with a higher offset.
    expect(await api.getUpdates({ timeout: 0 })).toHaveLength(1);
    expect(await api.getUpdates({ offset: update.update_id + 1, timeout: 0 })).toEqual([]);

    await expect(double.waitForCall("sendPhoto", { timeoutMs: 20 })).rejects.toThrow(/Recent calls:\n.*getUpdates/s);

    const pending = api.getUpdates({ timeout: 50 });
    await double.waitForPendingPoll();
    await double.stop();
    expect(await pending).toEqual([]);
  });
});

// --- file server ----------------------------------------------------------------------------

interface Fetched {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The response ended before Content-Length was reached (or with a socket error). */
  cut: boolean;
}

/** A plain node:http GET/HEAD that reports exactly how many bytes arrived. */
function get(url: string, headers: Record<string, string> = {}, method = "GET"): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let cut = false;
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", () => {
        cut = true;
      });
      res.on("close", () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          cut: cut || !res.complete,
        });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("FileServer", () => {
  let fs: FileServer;
  const body = FileServer.randomBytes(200_000, 42);

  beforeEach(async () => {
    fs = await FileServer.start();
  });

  afterEach(async () => {
    await fs.stop();
  });

  it("serves byte ranges with 206 and Content-Range, and 416 when unsatisfiable", async () => {
    const { url, sha256: hash, size } = fs.addFile("/files/big file.bin", body);
    expect(url).toBe(`${fs.baseUrl}/files/big%20file.bin`);
    expect(hash).toBe(sha256(body));

    const full = await get(url);
    expect(full.status).toBe(200);
    expect(full.headers["accept-ranges"]).toBe("bytes");
    expect(full.headers["content-length"]).toBe(String(size));
    expect(full.body.equals(body)).toBe(true);

    const mid = await get(url, { Range: "bytes=1000-1999" });
    expect(mid.status).toBe(206);
    expect(mid.headers["content-range"]).toBe(`bytes 1000-1999/${size}`);
    expect(mid.body.equals(body.subarray(1000, 2000))).toBe(true);

    const tail = await get(url, { Range: "bytes=-500" });
    expect(tail.headers["content-range"]).toBe(`bytes ${size - 500}-${size - 1}/${size}`);
    expect(tail.body.equals(body.subarray(size - 500))).toBe(true);

    const open = await get(url, { Range: "bytes=199990-" });
    expect(open.body.equals(body.subarray(199_990))).toBe(true);

    const beyond = await get(url, { Range: `bytes=${size}-` });
    expect(beyond.status).toBe(416);
    expect(beyond.headers["content-range"]).toBe(`bytes */${size}`);

    expect(fs.requests.map((r) => r.status)).toEqual([200, 206, 206, 206, 416]);
    expect(fs.requests[1]).toMatchObject({ path: "/files/big file.bin", range: "bytes=1000-1999", bytesSent: 1000, state: "complete" });
  });

  it("honours If-Range: a stale validator gets the whole file", async () => {
    const { url } = fs.addFile("/f.bin", body, { lastModified: "Wed, 21 Oct 2015 07:28:00 GMT" });
    const head = await get(url, {}, "HEAD");
    expect(head.body.length).toBe(0);
    expect(head.headers["content-length"]).toBe(String(body.length));
    const etag = head.headers.etag ?? "";
    expect(etag).toMatch(/^"[0-9a-f]+"$/);

    const matching = await get(url, { Range: "bytes=10-19", "If-Range": etag });
    expect(matching.status).toBe(206);
    const stale = await get(url, { Range: "bytes=10-19", "If-Range": '"something-else"' });
    expect(stale.status).toBe(200);
    expect(stale.body.length).toBe(body.length);
    const byDate = await get(url, { Range: "bytes=10-19", "If-Range": "Wed, 21 Oct 2015 07:28:00 GMT" });
    expect(byDate.status).toBe(206);

    fs.addFile("/plain.bin", body, { acceptRanges: false, sendLength: false, allowHead: false });
    const plain = await get(`${fs.baseUrl}/plain.bin`, { Range: "bytes=0-9" });
    expect(plain.status).toBe(200);
    expect(plain.headers["transfer-encoding"]).toBe("chunked");
    expect(plain.body.equals(body)).toBe(true);
    expect((await get(`${fs.baseUrl}/plain.bin`, {}, "HEAD")).status).toBe(405);
  });

  it("cuts the body with a drop fault, then serves normally", async () => {
    const { url } = fs.addFile("/d.bin", body);
    fs.fault("/d.bin", { kind: "drop", afterBytes: 70_000, times: 1 });

    const cut = await get(url);
    expect(cut.status).toBe(200);
    expect(cut.cut).toBe(true);
    expect(cut.body.length).toBe(70_000);
    expect(cut.body.equals(body.subarray(0, 70_000))).toBe(true);
    expect(fs.requests[0]).toMatchObject({ state: "dropped", bytesSent: 70_000 });

    // A resume from where it broke gets the rest.
    const rest = await get(url, { Range: "bytes=70000-" });
    expect(rest.cut).toBe(false);
    expect(Buffer.concat([cut.body, rest.body]).equals(body)).toBe(true);
  });

  it("answers status faults for the given number of GETs only", async () => {
    const { url } = fs.addFile("/s.bin", body);
    fs.fault("/s.bin", { kind: "status", status: 503, times: 2 });
    expect((await get(url, {}, "HEAD")).status).toBe(200); // HEAD is not counted
    expect((await get(url)).status).toBe(503);
    expect((await get(url)).status).toBe(503);
    expect((await get(url)).status).toBe(200);
    expect((await get(`${fs.baseUrl}/missing`)).status).toBe(404);
  });

  it("stalls mid-body until released, and throttles in flight, without sleeps in the test", async () => {
    const { url } = fs.addFile("/st.bin", body);
    fs.fault("/st.bin", { kind: "stall", afterBytes: 50_000, times: 1 });
    const pending = get(url);
    await fs.waitForRequest((r) => r.path === "/st.bin" && r.state === "stalled");
    await fs.waitForBytes("/st.bin", 50_000);
    expect(fs.activeTransfers()).toBe(1);
    fs.releaseStalls("/st.bin");
    const done = await pending;
    expect(done.body.equals(body)).toBe(true);

    fs.throttle("/st.bin", 64 * 1024); // ~3 s for the whole body: we only wait for the first bytes
    const since = fs.nextSeq;
    const slow = get(url);
    await fs.waitForBytes("/st.bin", 8 * 1024);
    const rec = await fs.waitForRequest((r) => r.path === "/st.bin", { since });
    expect(rec.state).toBe("sending");
    expect(rec.bytesSent).toBeLessThan(body.length);
    fs.throttle("/st.bin", null); // applies to the response in flight
    expect((await slow).body.equals(body)).toBe(true);
    expect(fs.maxConcurrentTransfers).toBe(1);
    expect(fs.activeTransfers()).toBe(0);
  });

  it("throttles each request by what it asked, in flight too", async () => {
    const { url } = fs.addFile("/uneven.bin", body);
    // Only the whole-file GET is slow (~3 s for the body): a ranged one goes at full speed meanwhile.
    fs.throttleRequests("/uneven.bin", (r) => (r.range === undefined ? 64 * 1024 : null));
    const slow = get(url);
    await fs.waitForBytes("/uneven.bin", 8 * 1024);
    const fast = await get(url, { Range: "bytes=100000-" });
    expect(fast.body.equals(body.subarray(100_000))).toBe(true);
    const whole = fs.requests.find((r) => r.range === undefined)!;
    expect(whole.state).toBe("sending");
    expect(whole.bytesSent).toBeLessThan(body.length);
    fs.throttleRequests("/uneven.bin", null);
    expect((await slow).body.equals(body)).toBe(true);
  });

  it("serves redirects and HTML pages", async () => {
    const page = fs.addHtml("/page", "<html><a href='/f'>f</a></html>");
    const from = fs.addRedirect("/go", "/page", 301);
    const r = await get(from);
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe("/page");
    const html = await get(page);
    expect(html.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(html.body.toString()).toContain("<a href='/f'>");
    expect(FileServer.randomBytes(1000, 1).equals(FileServer.randomBytes(1000, 1))).toBe(true);
    expect(FileServer.randomBytes(1000, 1).equals(FileServer.randomBytes(1000, 2))).toBe(false);
  });
});

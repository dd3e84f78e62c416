import type { ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { listItems } from "../../src/db/item-repository.ts";
import { buildIfStale, endTest, startBot, writeConfig } from "../support/bot-process.ts";
import { FileServer } from "../support/file-server.ts";
import { CHAT, Harness } from "../support/harness.ts";

/**
 * An attempt counts when it starts: a link that kills the bot process (here: `kill -9` while it
 * runs) cannot do it for ever, and a clean stop or a pause costs nothing. The bot runs as its own
 * process, as `npm start` runs it.
 */
beforeAll(buildIfStale, 120_000);

let h: Harness | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  h = await endTest(children, h);
});

/** Resolves once a GET of `path` after file server request `from` is sending bytes: the attempt runs. */
function attemptRunning(harness: Harness, path: string, from: number): Promise<unknown> {
  return harness.files.waitForProgress((r) => r.seq >= from && r.method === "GET" && r.path === path && r.bytesSent > 0, { timeoutMs: 20_000 });
}

const texts = (harness: Harness, since: number) =>
  harness.api.calls.filter((c) => c.seq >= since && (c.method === "sendMessage" || c.method === "editMessageText")).map((c) => String(c.params.text));

describe("an item the bot process dies on", () => {
  it("fails once the bot was killed during each of its three attempts, says so in the chat, and the next item is delivered", async () => {
    h = await Harness.create({ retryDelaysMs: [0, 0] });
    const crash = h.files.addFile("/crash.bin", FileServer.randomBytes(2_000_000, 81));
    h.files.throttle("/crash.bin", 100_000);
    const next = h.files.addFile("/next.bin", FileServer.randomBytes(20_000, 82));
    const config = await writeConfig(h);
    let from = h.files.nextSeq;
    let bot = await startBot(h, config, children);
    const since = h.api.nextSeq;
    h.send(`/download ${crash.url} ${next.url}`);
    for (let run = 1; run <= 3; run++) {
      await attemptRunning(h, "/crash.bin", from);
      bot.child.kill("SIGKILL");
      await bot.exited;
      from = h.files.nextSeq;
      bot = await startBot(h, config, children);
    }

    const failure = await h.reply(since, CHAT, /crash\.bin<\/b>: failed/);
    expect(String(failure.params.text)).toBe(
      "❌ <b>crash.bin</b>: failed: the bot stopped while working on this download (attempt 3 of 3); send it again with /retry if it should work.",
    );
    expect((await h.upload(since)).files[0]!.sha256).toBe(next.sha256);
    expect(h.uploads()).toHaveLength(1);
    // Three attempts, and none after the third kill.
    expect(h.files.requests.filter((r) => r.method === "GET" && r.path === "/crash.bin")).toHaveLength(3);
    // Read once the delivery is recorded (the chat's final line comes after it).
    await h.api.waitForCall((c) => /next\.bin(<\/b>)?: delivered/.test(String(c.params.text ?? "")), { since });
    const items = await h.withDb((db) => listItems(db, { chatId: CHAT }));
    expect(items.map((i) => [i.url, i.status, i.attempts])).toEqual([
      [crash.url, "failed", 3],
      [next.url, "completed", 0],
    ]);
    // The bot lives on, and stops cleanly.
    bot.child.kill("SIGTERM");
    expect((await bot.exited).code).toBe(0);
  });

  it("gives the attempt back on a clean stop and on a pause, and counts the one a kill -9 cut short", async () => {
    h = await Harness.create({ retryDelaysMs: [0, 0] });
    const file = h.files.addFile("/slow.bin", FileServer.randomBytes(1_500_000, 83));
    h.files.throttle("/slow.bin", 100_000);
    const config = await writeConfig(h);
    const row = async () => (await h!.withDb((db) => listItems(db, { chatId: CHAT })))[0]!;
    let from = h.files.nextSeq;
    let bot = await startBot(h, config, children);
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const progress = await h.progressMessageId(since);
    await attemptRunning(h, "/slow.bin", from);
    // Counted in the row as the attempt started: a crash from here on counts.
    expect(await row()).toMatchObject({ status: "downloading", attempts: 1 });

    bot.child.kill("SIGTERM");
    expect((await bot.exited).code).toBe(0);
    expect(await row()).toMatchObject({ status: "queued", attempts: 0 });

    from = h.files.nextSeq;
    bot = await startBot(h, config, children);
    await attemptRunning(h, "/slow.bin", from);
    let asked = h.api.nextSeq;
    h.send("/pause 1");
    // The answer comes once the worker recorded the pause.
    await h.reply(asked);
    expect(await row()).toMatchObject({ status: "paused", attempts: 0 });
    from = h.files.nextSeq;
    asked = h.api.nextSeq;
    h.send("/resume 1");
    await h.reply(asked);
    await attemptRunning(h, "/slow.bin", from);
    // Still the first attempt, as far as anyone can see.
    expect(texts(h, since).filter((t) => /attempt \d of 3/.test(t))).toEqual([]);

    bot.child.kill("SIGKILL");
    await bot.exited;
    from = h.files.nextSeq;
    bot = await startBot(h, config, children);
    await attemptRunning(h, "/slow.bin", from);
    expect(await row()).toMatchObject({ status: "downloading", attempts: 2 });
    await h.waitForText(progress, /\(attempt 2 of 3\)/, since);
    h.files.throttle("/slow.bin", null);
    expect((await h.upload(since)).files[0]!.sha256).toBe(file.sha256);
    // Delivered on its second attempt: one failed (the kill), as the row keeps it.
    await h.waitForText(progress, /delivered/, since);
    expect(await row()).toMatchObject({ status: "completed", attempts: 1 });
  });

  it("lives through an exception no callback caught: the running attempt fails, and the retry delivers", async () => {
    h = await Harness.create({ retryDelaysMs: [0, 0] });
    const file = h.files.addFile("/slow.bin", FileServer.randomBytes(1_000_000, 84));
    h.files.throttle("/slow.bin", 100_000);
    // A bug in some socket or timer callback, set off from outside: it throws on SIGUSR2.
    const bug = path.join(h.dataDir, "callback-bug.cjs");
    await writeFile(bug, `process.on("SIGUSR2", () => setImmediate(() => { throw new TypeError("a callback's bug"); }));\n`);
    const config = await writeConfig(h);
    const from = h.files.nextSeq;
    const bot = await startBot(h, config, children, { NODE_OPTIONS: `--require ${bug}` });
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    const progress = await h.progressMessageId(since);
    await attemptRunning(h, "/slow.bin", from);
    bot.child.kill("SIGUSR2");
    // The attempt failed and the next one runs, saying why the last one failed.
    await h.waitForText(progress, /\(attempt 2 of 3\)[^]*failed: an unexpected error happened; it will be retried/, since);
    h.files.throttle("/slow.bin", null);
    expect((await h.upload(since)).files[0]!.sha256).toBe(file.sha256);
    expect(bot.child.exitCode).toBeNull();
    expect(bot.output()).toMatch(/"msg":"uncaught exception"/);
    bot.child.kill("SIGTERM");
    expect((await bot.exited).code).toBe(0);
  });
});

import { existsSync } from "node:fs";
import path from "node:path";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import {
  cancel,
  claimNextItem,
  complete,
  fail,
  findItem,
  listItemFiles,
  listItems,
  pause,
  requeue,
  resume,
  scheduleRetry,
  stop,
  transition,
} from "../../src/db/item-repository.ts";
import { describeReason } from "../../src/bot/views/error-view.ts";
import { DownloadError } from "../../src/errors.ts";
import { QueueWorld } from "../support/queue-world.ts";

let world: QueueWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe("the queue worker, against a recording subscriber of its events", () => {
  it("runs an item to its delivery: reports start, progress and delivery; records the upload; clears the disk", async () => {
    world = await QueueWorld.create();
    await world.worker.start();
    const item = await world.add("a.bin");
    const delivered = await world.recorder.next((r) => r.event === "delivered");

    expect(world.recorder.timeline()).toEqual([`started:${item.id}`, `delivered:${item.id}`]);
    expect(delivered).toMatchObject({ bytes: item.url.length, files: 1, item: { status: "completed" } });
    expect(world.recorder.reports.some((r) => r.event === "progress" && r.state.phase === "uploading")).toBe(true);
    expect(world.uploads).toEqual([{ itemId: item.id, name: `${item.id}.bin`, bytes: item.url }]);
    expect(await listItemFiles(world.db, item.id)).toMatchObject([{ fileId: `F${item.id}-0`, uploadKind: "document" }]);
    expect(await findItem(world.db, item.id)).toMatchObject({ status: "completed", downloaded: true, finishedAt: expect.any(Number) });
    expect(existsSync(path.join(world.dir, "downloads", String(item.id)))).toBe(false);
  });

  it("runs items one at a time, in order, and reports a retry before the attempt that succeeds", async () => {
    world = await QueueWorld.create({ retryDelaysMs: [0] });
    let failOnce = true;
    world.source.behaviour = async (ctx) => {
      if (ctx.item.title === "flaky.bin" && failOnce) {
        failOnce = false;
        throw new DownloadError("NETWORK", "reset", { retryable: true, reason: { kind: "connectionFailed", host: "files.example", code: "ECONNRESET" } });
      }
      return world!.source.writeUrl(ctx);
    };
    const flaky = await world.add("flaky.bin");
    const second = await world.add("second.bin");
    await world.worker.start();
    await world.recorder.next((r) => r.event === "delivered" && r.item.id === second.id);
    await world.recorder.next((r) => r.event === "delivered" && r.item.id === flaky.id);

    expect(world.recorder.timeline()).toEqual([
      `started:${flaky.id}`,
      `retrying:${flaky.id}`,
      `started:${flaky.id}`,
      `delivered:${flaky.id}`,
      `started:${second.id}`,
      `delivered:${second.id}`,
    ]);
    expect(world.recorder.reports.find((r) => r.event === "retrying")).toMatchObject({ attempt: 1, delayMs: 0, message: "the connection to files.example failed (ECONNRESET)." });
    expect(await findItem(world.db, flaky.id)).toMatchObject({ status: "completed", attempts: 1 });
  });

  it("fails an item for good on an error that cannot heal, and removes its files", async () => {
    world = await QueueWorld.create({ retryDelaysMs: [0, 0] });
    world.source.behaviour = async () => {
      throw new DownloadError("HTTP_PERMANENT", "404", { reason: { kind: "httpStatus", host: "files.example", status: 404, permanent: true } });
    };
    const item = await world.add("gone.bin");
    await world.worker.start();
    const failed = await world.recorder.next((r) => r.event === "failed");
    expect(failed).toMatchObject({ message: "files.example: the file is not there (HTTP 404); check the link and send it again.", item: { status: "failed", attempts: 1, errorCode: "HTTP_PERMANENT" } });
    expect(world.source.runs).toEqual([item.id]);
    expect(existsSync(path.join(world.dir, "downloads", String(item.id)))).toBe(false);
  });

  it("stopItem settles only once the outcome is recorded and reported", async () => {
    world = await QueueWorld.create();
    world.source.gate();
    await world.worker.start();
    const item = await world.add("big.bin");
    await world.source.running(item.id);
    expect(world.worker.activeItemId).toBe(item.id);

    expect(await world.worker.stopItem(item.id, "pause")).toBe(true);
    // No waiting after the promise: the row and the report are already there.
    expect((await findItem(world.db, item.id))!.status).toBe("paused");
    expect(world.recorder.timeline()).toEqual([`started:${item.id}`, `stopped:${item.id}`]);
    expect(world.worker.activeItemId).toBeUndefined();
    // Not the running item (any more): nothing to stop.
    expect(await world.worker.stopItem(item.id, "cancel")).toBe(false);
  });

  it("holds the running item when the whole queue pauses, starts nothing until resumed, and keeps the switch across a restart", async () => {
    world = await QueueWorld.create();
    world.source.gate();
    await world.worker.start();
    const first = await world.add("first.bin");
    await world.source.running(first.id);

    expect(await world.worker.pauseQueue()).toEqual({ changed: true, heldItemId: first.id });
    expect(await findItem(world.db, first.id)).toMatchObject({ status: "queued" });
    expect(world.recorder.reports.at(-1)).toMatchObject({ event: "stopped", reason: "hold", wasRunning: true });
    expect(await world.worker.pauseQueue()).toEqual({ changed: false });

    await world.restart();
    world.source.open();
    await world.add("second.bin");
    expect(world.worker.queuePaused).toBe(true);
    expect(world.recorder.reports).toEqual([]);

    expect(await world.worker.resumeQueue()).toEqual({ changed: true });
    await world.recorder.next((r) => r.event === "delivered" && r.item.id === first.id);
    await world.recorder.next((r) => r.event === "delivered" && r.item.id !== first.id);
    // The held item keeps its place: it goes first.
    expect(world.recorder.timeline()[0]).toBe(`started:${first.id}`);
  });

  it("puts items a crashed process left active back in line at start", async () => {
    world = await QueueWorld.create();
    const item = await world.add("crashed.bin");
    await transition(world.db, item.id, { from: "queued", to: "downloading" }, Date.now());
    await world.worker.start();
    await world.recorder.next((r) => r.event === "delivered" && r.item.id === item.id);
    expect(world.uploads.map((u) => u.itemId)).toEqual([item.id]);
  });

  it("counts an attempt when it starts and gives it back when the item is stopped on purpose", async () => {
    world = await QueueWorld.create({ retryDelaysMs: [0, 0] });
    world.source.gate();
    await world.worker.start();
    const item = await world.add("stop.bin");
    const attemptsNow = async () => (await findItem(world!.db, item.id))!.attempts;
    const startedAgain = async (n: number) => {
      await world!.recorder.next((r) => r.event === "started" && world!.recorder.reports.filter((s) => s.event === "started").length === n);
    };

    await startedAgain(1);
    // Counted by the claim, in the row, before anything ran: a crash from here on counts.
    expect(await attemptsNow()).toBe(1);
    expect(await world.control.pause(item.id, 1)).toMatchObject({ ok: true, item: { status: "paused", attempts: 0 } });
    expect(await world.control.resume(item.id, 1)).toMatchObject({ ok: true });
    await startedAgain(2);
    expect(await attemptsNow()).toBe(1);
    // The whole queue held: back in line, attempt unused.
    expect(await world.worker.pauseQueue()).toMatchObject({ heldItemId: item.id });
    expect(await findItem(world.db, item.id)).toMatchObject({ status: "queued", attempts: 0 });
    await world.worker.resumeQueue();
    await startedAgain(3);
    // A clean stop of the process: the same.
    await world.worker.stop(2000);
    expect(await findItem(world.db, item.id)).toMatchObject({ status: "queued", attempts: 0 });
    const shown = world.recorder.reports.flatMap((r) => (r.event === "started" ? [r.state.attempt] : []));
    await world.restart();
    const started = await world.recorder.next((r) => r.event === "started");
    expect(await world.control.cancel(item.id, 1)).toMatchObject({ ok: true, item: { status: "cancelled", attempts: 0 } });
    // Every run was the first attempt, as the live message showed.
    expect([...shown, started.event === "started" && started.state.attempt]).toEqual([1, 1, 1, 1]);
  });

  it("fails at start an item whose every attempt ended with the process, tells the chat, and runs the next one", async () => {
    world = await QueueWorld.create({ retryDelaysMs: [0, 0] });
    const crashing = await world.add("crashing.bin");
    const next = await world.add("next.bin");
    // What three claims and three kill -9 leave: active, three attempts counted.
    await transition(world.db, crashing.id, { from: "queued", to: "downloading", patch: { attempts: 3 } }, Date.now());
    await world.worker.start();
    const failed = await world.recorder.next((r) => r.event === "failed");
    expect(failed).toMatchObject({
      item: { id: crashing.id, status: "failed", attempts: 3 },
      message: "the bot stopped while working on this download (attempt 3 of 3); send it again with /retry if it should work.",
    });
    await world.recorder.next((r) => r.event === "delivered" && r.item.id === next.id);
    expect(world.source.runs).toEqual([next.id]);
    expect(world.recorder.timeline()).toEqual([`failed:${crashing.id}`, `started:${next.id}`, `delivered:${next.id}`]);
  });

  it("puts an interrupted item with attempts left back in line after its retry delay, as a failure would", async () => {
    world = await QueueWorld.create({ retryDelaysMs: [0, 60_000] });
    const item = await world.add("cut.bin");
    await transition(world.db, item.id, { from: "queued", to: "downloading", patch: { attempts: 2 } }, Date.now());
    const before = Date.now();
    await world.worker.start();
    const retrying = await world.recorder.next((r) => r.event === "retrying");
    expect(retrying).toMatchObject({ attempt: 2, delayMs: 60_000, message: "the bot stopped while working on this download." });
    const row = (await findItem(world.db, item.id))!;
    expect(row).toMatchObject({ status: "queued", attempts: 2 });
    expect(describeReason(row.lastError!)).toBe("the bot stopped while working on this download.");
    expect(row.nextAttemptAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(world.source.runs).toEqual([]);
  });

  it("fails the attempt and schedules the retry when the database refuses to record the failure for a moment", async () => {
    world = await QueueWorld.create({ retryDelaysMs: [0] });
    let failOnce = true;
    world.source.behaviour = async (ctx) => {
      if (failOnce) {
        failOnce = false;
        // The database refuses to take the item back in line, for half a second.
        await sql`create trigger refuse_requeue before update of status on items when new.status = 'queued'
          begin select raise(abort, 'refused for a moment'); end`.execute(world!.db);
        setTimeout(() => void sql`drop trigger refuse_requeue`.execute(world!.db), 500);
        throw new DownloadError("NETWORK", "reset", { retryable: true, reason: { kind: "connectionFailed", host: "files.example", code: "ECONNRESET" } });
      }
      return world!.source.writeUrl(ctx);
    };
    const item = await world.add("flaky.bin");
    await world.worker.start();
    await world.recorder.next((r) => r.event === "delivered");
    expect(world.recorder.timeline()).toEqual([`started:${item.id}`, `retrying:${item.id}`, `started:${item.id}`, `delivered:${item.id}`]);
    expect(world.recorder.reports.find((r) => r.event === "retrying")).toMatchObject({ attempt: 1, message: "the connection to files.example failed (ECONNRESET)." });
    expect(await findItem(world.db, item.id)).toMatchObject({ status: "completed", attempts: 1 });
    expect(world.uploads).toHaveLength(1);
  });

  it("records a finished download the database refused for a moment without downloading it again", async () => {
    world = await QueueWorld.create({ retryDelaysMs: [0] });
    await sql`create trigger refuse_files before insert on item_files begin select raise(abort, 'refused for a moment'); end`.execute(world.db);
    world.source.behaviour = async (ctx) => {
      setTimeout(() => void sql`drop trigger refuse_files`.execute(world!.db), 500);
      return world!.source.writeUrl(ctx);
    };
    const item = await world.add("once.bin");
    await world.worker.start();
    await world.recorder.next((r) => r.event === "delivered");
    expect(world.source.runs).toEqual([item.id]);
    expect(world.recorder.timeline()).toEqual([`started:${item.id}`, `delivered:${item.id}`]);
    expect(await findItem(world.db, item.id)).toMatchObject({ status: "completed", attempts: 0 });
    // Sent once, and its file_id recorded.
    expect(world.uploads).toHaveLength(1);
    expect(await listItemFiles(world.db, item.id)).toMatchObject([{ fileId: `F${item.id}-0` }]);
  });

  it("fails the running attempt with an exception no callback caught, and retries it like any failure", async () => {
    world = await QueueWorld.create({ retryDelaysMs: [0] });
    world.source.gate();
    await world.worker.start();
    const item = await world.add("thrown.bin");
    await world.source.running(item.id);
    expect(world.worker.failActive(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe(true);
    const retrying = await world.recorder.next((r) => r.event === "retrying");
    expect(retrying).toMatchObject({ attempt: 1, message: "an unexpected error happened; it will be retried (details are in the bot's log)" });
    expect(await findItem(world.db, item.id)).toMatchObject({ errorCode: "INTERNAL", attempts: 1 });
    world.source.open();
    await world.recorder.next((r) => r.event === "delivered");
    expect(await findItem(world.db, item.id)).toMatchObject({ status: "completed", attempts: 1 });
  });

  it("lets a handler queue items it found through its context, and ends the item without an upload", async () => {
    world = await QueueWorld.create();
    world.source.behaviour = async (ctx) => {
      if (ctx.item.title !== "page") return world!.source.writeUrl(ctx);
      const first = await ctx.enqueue({ url: "https://files.invalid/one.bin" });
      const again = await ctx.enqueue({ url: "https://files.invalid/one.bin" });
      // Second in line: behind the page itself, which is running.
      const open = await ctx.findOpen("https://files.invalid/one.bin");
      if (open?.position !== 2) throw new Error(`found ${JSON.stringify(open)}`);
      // What became of the two, as the page's summary counts them.
      const tally = { found: 2, cap: 50, overCap: 0, tooLarge: 0, refused: 0, added: Number(first.status === "queued"), alreadyQueued: Number(again.status === "duplicate") };
      return { kind: "done", summary: { kind: "found", tally } };
    };
    const page = await world.add("page");
    await world.worker.start();
    expect(await world.recorder.next((r) => r.event === "done")).toMatchObject({ message: "2 files found: 1 queued, 1 skipped (already in line).", item: { id: page.id, status: "completed" } });
    await world.recorder.next((r) => r.event === "delivered");
    const items = await listItems(world.db);
    expect(items.map((i) => [i.title, i.status, i.chatId])).toEqual([
      ["page", "completed", 1],
      ["one.bin", "completed", 1],
    ]);
    expect(world.uploads.map((u) => u.name)).toEqual([`${items[1]!.id}.bin`]);
  });
});

describe("queue control, against a real worker", () => {
  it("pauses and cancels the running item: each answer comes once the worker recorded it", async () => {
    world = await QueueWorld.create();
    world.source.gate();
    await world.worker.start();
    const item = await world.add("run.bin");
    await world.source.running(item.id);

    expect(await world.control.pause(item.id, 1)).toMatchObject({ ok: true, did: "paused", item: { status: "paused" } });
    expect(await world.control.pause(item.id, 1)).toMatchObject({ ok: false, why: "already-paused" });
    expect(await world.control.resume(item.id, 1)).toMatchObject({ ok: true, did: "resumed" });
    await world.source.running(item.id);
    await world.recorder.next((r) => r.event === "started" && world!.recorder.reports.filter((s) => s.event === "started").length === 2);

    expect(await world.control.cancel(item.id, 1)).toMatchObject({ ok: true, did: "cancelled", item: { status: "cancelled" } });
    expect(world.recorder.timeline()).toEqual([
      `started:${item.id}`,
      `stopped:${item.id}`,
      `resumed:${item.id}`,
      `started:${item.id}`,
      `stopped:${item.id}`,
    ]);
    expect(world.recorder.reports.filter((r) => r.event === "stopped").map((r) => r.event === "stopped" && r.reason)).toEqual(["pause", "cancel"]);
    expect(await world.control.cancel(item.id, 1)).toMatchObject({ ok: false, why: "finished" });
  });

  it("changes waiting items in the database and reports them; other chats' items do not exist", async () => {
    world = await QueueWorld.create();
    world.source.gate();
    await world.worker.start();
    const running = await world.add("running.bin");
    await world.source.running(running.id);
    const waiting = await world.add("waiting.bin");
    const other = await world.add("theirs.bin", 99);

    expect(await world.control.cancel(other.id, 1)).toEqual({ ok: false, why: "not-found" });
    expect(await world.control.prioritise(waiting.id, 1, "high")).toMatchObject({ ok: true, did: "priority" });
    expect(await world.control.pause(waiting.id, 1)).toMatchObject({ ok: true, did: "paused" });
    expect(world.recorder.reports.at(-1)).toMatchObject({ event: "stopped", reason: "pause", wasRunning: false });
    expect(await world.control.resume(waiting.id, 1)).toMatchObject({ ok: true, did: "resumed" });
    // Behind the running item; higher priority than theirs.bin.
    expect(world.recorder.reports.at(-1)).toMatchObject({ event: "resumed", position: 2 });
    expect(await world.control.cancel(waiting.id, 1)).toMatchObject({ ok: true, did: "cancelled" });
    expect(world.recorder.reports.at(-1)).toMatchObject({ event: "stopped", reason: "cancel", wasRunning: false });

    expect(await world.control.retry(waiting.id, 1)).toMatchObject({ ok: true, did: "requeued", item: { status: "queued", attempts: 0 } });
    const { entries, queuePaused } = await world.control.queue();
    expect(queuePaused).toBe(false);
    expect(entries.map((e) => [e.item.title, e.position, e.active])).toEqual([
      ["running.bin", 1, true],
      // A retried item keeps its priority.
      ["waiting.bin", 2, false],
      ["theirs.bin", 3, false],
    ]);
    expect((await world.control.status(1)).counts).toEqual({ downloading: 1, queued: 1 });
  });

  it("refuses a move the lifecycle does not allow, before touching the row", async () => {
    world = await QueueWorld.create();
    const item = await world.add("x.bin");
    await expect(transition(world.db, item.id, { from: "queued", to: "completed" }, Date.now())).rejects.toThrow(/not allowed/);
    expect(await transition(world.db, item.id, { from: "paused", to: "queued" }, Date.now())).toBeUndefined();
    expect((await findItem(world.db, item.id))!.status).toBe("queued");
  });

  it("makes each lifecycle verb a compare-and-set from the statuses it starts from", async () => {
    world = await QueueWorld.create();
    const item = await world.add("x.bin");
    const db = world.db;
    const now = Date.now();
    const failure = { attempts: 1, errorCode: "NETWORK", lastError: { kind: "connectionFailed", host: "files.example", code: "ECONNRESET" } as const };
    // The running item's verbs leave a waiting item alone, and a waiting item's verbs need it waiting.
    expect(await complete(db, item, now)).toBeUndefined();
    expect(await fail(db, item.id, failure, now)).toBeUndefined();
    expect(await scheduleRetry(db, item.id, failure, now + 1000, now)).toBeUndefined();
    expect(await stop(db, item, "paused", {}, now)).toBeUndefined();
    expect(await resume(db, item.id, now)).toBeUndefined();
    expect(await requeue(db, item.id, now)).toEqual({});

    const claimed = await claimNextItem(db, now);
    expect(claimed).toMatchObject({ id: item.id, status: "downloading", attempts: 1 });
    // Only the worker moves the running item.
    expect(await pause(db, item.id, now)).toBeUndefined();
    expect(await cancel(db, item.id, now)).toBeUndefined();
    // Stopped on purpose: the attempt is given back, the bytes kept.
    expect(await stop(db, claimed!, "paused", { bytesDone: 5 }, now)).toMatchObject({ status: "paused", attempts: 0, bytesDone: 5 });
    expect(await resume(db, item.id, now + 1)).toMatchObject({ status: "queued", nextAttemptAt: now + 1 });

    expect(await claimNextItem(db, now + 1)).toMatchObject({ status: "downloading", attempts: 1 });
    expect(await scheduleRetry(db, item.id, failure, now + 1000, now + 1)).toMatchObject({ status: "queued", attempts: 1, errorCode: "NETWORK", nextAttemptAt: now + 1000 });
    const third = await claimNextItem(db, now + 1000);
    expect(await complete(db, third!, now + 1000)).toMatchObject({ status: "completed", attempts: 1, lastError: null, errorCode: null, finishedAt: now + 1000 });
    // Delivered is final: neither a failure nor /retry moves it.
    expect(await fail(db, item.id, failure, now + 1000)).toBeUndefined();
    expect(await requeue(db, item.id, now + 1000)).toEqual({});
    expect(await pause(db, item.id, now + 1000)).toBeUndefined();
  });
});

import { GrammyError } from "grammy";
import { describe, expect, it, vi } from "vitest";
import {
  MAX_CALLBACK_BYTES,
  decodeCallback,
  downloadAgainKeyboard,
  encodeCallback,
  pagerKeyboard,
  progressKeyboard,
  type CallbackAction,
} from "../../src/bot/keyboards.ts";
import type { Item } from "../../src/db/item-repository.ts";
import { createLogger } from "../../src/logger.ts";
import { TransientNotices } from "../../src/bot/notices.ts";
import {
  PAGE_SIZE,
  historyLine,
  orderQueue,
  parseItemId,
  parsePriority,
  priorityName,
  queueLine,
  renderHistoryPage,
  renderQueuePage,
  renderStatus,
} from "../../src/bot/views/queue-view.ts";

const NOW = 1_800_000_000_000;

function item(id: number, patch: Partial<Item> = {}): Item {
  return {
    id,
    chatId: 1,
    userId: 2,
    requestMessageId: null,
    url: `https://example.com/${id}.bin`,
    sourceKind: "direct",
    title: `${id}.bin`,
    sizeBytes: 1024 * 1024,
    status: "queued",
    priority: 0,
    attempts: 0,
    nextAttemptAt: NOW - 1,
    bytesDone: 0,
    downloaded: false,
    lastError: null,
    errorCode: null,
    etag: null,
    lastModified: null,
    choiceOffer: null,
    choice: null,
    choiceDeadline: null,
    requestId: null,
    wants: {},
    createdAt: NOW - 1000,
    updatedAt: NOW - 1000,
    startedAt: null,
    finishedAt: null,
    ...patch,
  };
}

describe("callback data", () => {
  it("round-trips every action within Telegram's 64 bytes", () => {
    const actions: CallbackAction[] = [
      { action: "pause", itemId: 12 },
      { action: "resume", itemId: 1 },
      { action: "cancel", itemId: Number.MAX_SAFE_INTEGER },
      { action: "again", itemId: 7 },
      { action: "resumeQueue", itemId: 3 },
      { action: "queuePage", page: 0 },
      { action: "historyPage", page: 41 },
    ];
    for (const a of actions) {
      const data = encodeCallback(a);
      expect(Buffer.byteLength(data)).toBeLessThanOrEqual(MAX_CALLBACK_BYTES);
      expect(decodeCallback(data)).toEqual(a);
    }
    expect(encodeCallback({ action: "pause", itemId: 12 })).toBe("q:p:12");
  });

  it("refuses what it did not make", () => {
    for (const data of [undefined, "", "q:p:", "q:p:-1", "q:x:1", "q:p:1:2", "x:p:1", "q:p:1e3", "q:p:" + "9".repeat(17), "q:p:" + "1".repeat(70)]) {
      expect(decodeCallback(data)).toBeNull();
    }
    expect(() => encodeCallback({ action: "pause", itemId: -1 })).toThrow(RangeError);
    expect(() => encodeCallback({ action: "queuePage", page: 1.5 })).toThrow(RangeError);
  });
});

describe("keyboards", () => {
  it("shows Pause or Resume, and Cancel", () => {
    expect(progressKeyboard(3, { paused: false })).toEqual({
      inline_keyboard: [[{ text: "⏸ Pause", callback_data: "q:p:3" }, { text: "✖️ Cancel", callback_data: "q:c:3" }]],
    });
    expect(progressKeyboard(3, { paused: true }).inline_keyboard[0]![0]).toEqual({ text: "▶️ Resume", callback_data: "q:r:3" });
  });

  it("pages with « and » only where there is somewhere to go", () => {
    expect(pagerKeyboard("queuePage", 0, 1)).toBeUndefined();
    expect(pagerKeyboard("queuePage", 0, 3)!.inline_keyboard).toEqual([[{ text: "More »", callback_data: "q:qp:1" }]]);
    expect(pagerKeyboard("historyPage", 1, 3)!.inline_keyboard[0]!.map((b) => b.text)).toEqual(["« Back", "More »"]);
    expect(pagerKeyboard("historyPage", 2, 3)!.inline_keyboard).toEqual([[{ text: "« Back", callback_data: "q:hp:1" }]]);
  });

  it("offers Download again per re-sent item", () => {
    expect(downloadAgainKeyboard([])).toBeUndefined();
    expect(downloadAgainKeyboard([4])!.inline_keyboard).toEqual([[{ text: "🔄 Download again", callback_data: "q:a:4" }]]);
    expect(downloadAgainKeyboard([4, 9])!.inline_keyboard.map((r) => r[0]!.text)).toEqual(["🔄 Download #4 again", "🔄 Download #9 again"]);
  });
});

describe("command arguments", () => {
  it("reads ids and priorities", () => {
    expect(parseItemId("12")).toBe(12);
    expect(parseItemId(" #7 ")).toBe(7);
    for (const bad of ["", "0", "x", "#", "1.5", "-3", "12a"]) expect(parseItemId(bad)).toBeNull();
    expect(parsePriority("HIGH")).toBe("high");
    expect(parsePriority("urgent")).toBeNull();
    expect([10, 0, -10, 3].map(priorityName)).toEqual(["high", "normal", "low", "high"]);
  });
});

describe("queue view", () => {
  it("orders running, then waiting by priority and age, then paused, with positions", () => {
    const open = [
      item(1, { status: "paused" }),
      item(2),
      item(3, { priority: 10 }),
      item(4, { status: "downloading" }),
      item(5, { priority: -10 }),
      item(6),
    ];
    const order = orderQueue(open, 4);
    expect(order.map((e) => [e.item.id, e.position, e.active])).toEqual([
      [4, 1, true],
      [3, 2, false],
      [2, 3, false],
      [6, 4, false],
      [5, 5, false],
      [1, null, false],
    ]);
  });

  it("writes a line per state, escaping names", () => {
    const running = item(4, { status: "downloading", bytesDone: 512 * 1024, title: "<b>&.bin" });
    expect(queueLine({ item: running, position: 1, active: true }, NOW)).toBe(
      "▶️ 1. #4 <b>&lt;b&gt;&amp;.bin</b> · 512 KB / 1.0 MB · downloading",
    );
    const retrying = item(5, { attempts: 1, nextAttemptAt: NOW + 90_000, priority: 10 });
    expect(queueLine({ item: retrying, position: 3, active: false }, NOW)).toBe(
      "3. #5 <b>5.bin</b> · 1.0 MB · attempt 2 in 1m 30s · ↑ high",
    );
    const paused = item(6, { status: "paused", bytesDone: 100, sizeBytes: null });
    expect(queueLine({ item: paused, position: null, active: false }, NOW)).toBe("⏸ #6 <b>6.bin</b> · 100 B so far · paused");
  });

  it("pages this chat's items within Telegram's limit and hides other chats' names", () => {
    const long = "x".repeat(500);
    const open = [item(1, { status: "downloading", chatId: 99, title: "secret.bin" })];
    for (let i = 2; i <= 26; i++) open.push(item(i, { title: long }));
    const entries = orderQueue(open, 1);
    const first = renderQueuePage(entries, { chatId: 1, page: 0, now: NOW, queuePaused: true });
    expect(first.pages).toBe(3);
    expect(first.text).not.toContain("secret");
    expect(first.text).toContain("another chat's download is running");
    expect(first.text).toContain("The queue is paused");
    expect(first.text).toContain("Page 1 of 3");
    expect(first.text.split("\n").filter((l) => / #\d+ /.test(l))).toHaveLength(PAGE_SIZE);
    expect(first.text.length).toBeLessThan(4096);
    const last = renderQueuePage(entries, { chatId: 1, page: 9, now: NOW, queuePaused: false });
    expect(last.page).toBe(2);
    expect(last.text).toContain("26. #26");
    expect(renderQueuePage([], { chatId: 1, page: 0, now: NOW, queuePaused: false }).text).toBe("Nothing of this chat is in the queue.");
  });

  it("renders history and status", () => {
    const done = item(3, { status: "completed", finishedAt: NOW - 120_000 });
    const failed = item(4, { status: "failed", lastError: { kind: "legacy", text: "the server answered <404>" }, finishedAt: NOW - 5000 });
    expect(historyLine(done, NOW)).toBe("✅ #3 <b>3.bin</b> · 1.0 MB · delivered · 2m 0s ago");
    expect(historyLine(failed, NOW)).toBe("❌ #4 <b>4.bin</b> · 1.0 MB · failed: the server answered &lt;404&gt; · 5s ago");
    const page = renderHistoryPage([done, failed], { page: 0, total: 2, now: NOW });
    expect(page).toMatchObject({ page: 0, pages: 1 });
    expect(renderHistoryPage([], { page: 0, total: 0, now: NOW }).text).toMatch(/Nothing has finished/);
    const status = renderStatus({
      counts: { queued: 2, downloading: 1, completed: 5 },
      queuePaused: false,
      active: item(7, { status: "downloading", bytesDone: 512 * 1024 }),
      activeElsewhere: false,
      freeBytes: 10 * 1024 ** 3,
      diskFull: false,
    });
    expect(status).toBe(
      [
        "<b>Status</b>",
        "Queue: running",
        "Active: #7 <b>7.bin</b> · downloading (50%)",
        "Items: 1 running · 2 queued · 0 paused · 5 delivered · 0 failed · 0 cancelled",
        "Free disk space: 10.0 GB",
      ].join("\n"),
    );
    const full = renderStatus({ counts: {}, queuePaused: false, activeElsewhere: false, freeBytes: 3 * 1024 ** 2, diskFull: true });
    const noYtDlp = renderStatus({ counts: {}, queuePaused: false, activeElsewhere: false, freeBytes: 1024 ** 3, diskFull: false, ytDlp: false });
    expect(noYtDlp.split("\n").at(-1)).toBe("yt-dlp: not installed, so pages are read by the bot's own reader only");
    // Past 90 days, /status says yt-dlp needs updating; a nightly's version and a fresh one do not.
    const at = Date.UTC(2026, 11, 6);
    const aged = (version: string) => renderStatus({ counts: {}, queuePaused: false, activeElsewhere: false, freeBytes: 1024 ** 3, diskFull: false, ytDlpVersion: version }, at);
    expect(aged("2023.03.04").split("\n")).toContain(
      "⚠️ yt-dlp 2023.03.04 is 1373 days old: sites change and break old versions, so update it on the server (a newer image, or the yt-dlp package).",
    );
    expect(aged("2026.09.05")).toMatch(/\n⚠️ yt-dlp 2026\.09\.05 is 92 days old: /);
    for (const fresh of ["2026.09.07", "2026.12.01.123456", "unknown"]) expect(aged(fresh)).not.toContain("⚠️");
    // The warning comes before the disk line, which stays where it was.
    expect(aged("2023.03.04").split("\n").at(-1)).toBe("Free disk space: 1.0 GB");
    expect(full.split("\n").slice(-2)).toEqual([
      "⚠️ The disk is full: nothing is downloaded until space is freed on the server.",
      "Free disk space: 3.0 MB",
    ]);
  });

  it("tells a chat that is not an admin chat that the admin chat paused the queue (its /resume cannot resume it)", () => {
    const paused = { counts: {}, queuePaused: true, activeElsewhere: false, freeBytes: 1024 ** 3, diskFull: false };
    expect(renderStatus(paused).split("\n")[1]).toBe("Queue: ⏸ paused (/resume continues)");
    expect(renderStatus({ ...paused, admin: false }).split("\n")[1]).toBe("Queue: ⏸ paused by the admin chat");
    const entries = orderQueue([item(1)], undefined);
    expect(renderQueuePage(entries, { chatId: 1, page: 0, now: NOW, queuePaused: true, admin: false }).text).toContain(
      "⏸ <b>The queue is paused</b> by the admin chat: nothing starts until it resumes the queue.",
    );
    expect(renderQueuePage(entries, { chatId: 1, page: 0, now: NOW, queuePaused: true }).text).toContain(
      "⏸ <b>The queue is paused</b>: nothing starts until /resume.",
    );
  });
});

describe("transient notices", () => {
  const logger = createLogger({ level: "silent", secrets: [] });

  it("deletes after the time, tolerates a message already gone, and stops cleanly", async () => {
    const deleted: number[] = [];
    const api = {
      deleteMessage: async (_chat: number | string, id: number) => {
        if (id === 2) throw new GrammyError("x", { ok: false, error_code: 400, description: "Bad Request: message to delete not found" }, "deleteMessage", {});
        deleted.push(id);
        return true as const;
      },
    };
    vi.useFakeTimers();
    const notices = new TransientNotices(api, 20, logger);
    notices.schedule(1, 1);
    notices.schedule(1, 2);
    notices.schedule(1, 3, 0); // 0 keeps it
    notices.schedule(1, 4);
    notices.keep(1, 4);
    notices.schedule(1, 5, 10_000);
    expect(notices.pending).toBe(3);
    await vi.advanceTimersByTimeAsync(25);
    vi.useRealTimers();
    expect(deleted).toEqual([1]);
    notices.stop();
    expect(notices.pending).toBe(0);
    notices.schedule(1, 6);
    expect(notices.pending).toBe(0);
  });
});

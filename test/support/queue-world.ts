import type { Choice, ChoiceOffer } from "../../src/items/choice.ts";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Db, migrateToLatest, openDatabase } from "../../src/db/database.ts";
import { insertItem } from "../../src/db/item-repository.ts";
import { enqueueUrl } from "../../src/intake/intake.ts";
import type { Item, SourceKind } from "../../src/items/item.ts";
import { createLogger } from "../../src/logger.ts";
import { createHttpClient } from "../../src/net/http-client.ts";
import { QueueControl } from "../../src/queue/queue-control.ts";
import { type ItemEvent, QueueEvents, type StopReason, type TransferState } from "../../src/queue/events.ts";
import { type FileUploader, QueueWorker } from "../../src/queue/worker.ts";
import { DataDisk } from "../../src/storage/data-disk.ts";
import type { Source, SourceContext, SourceResult } from "../../src/sources/source.ts";
import { doneLine } from "../../src/bot/views/done-view.ts";
import { describeReason } from "../../src/bot/views/error-view.ts";
import { renderNotice } from "../../src/bot/views/notice-view.ts";
import { Waitlist } from "./waitlist.ts";

/** One event the worker or queue control announced, as the recording subscriber keeps it. */
export type Report =
  | { event: "started" | "progress"; item: Item; state: TransferState }
  | { event: "notice"; item: Item; html: string }
  | { event: "retrying"; item: Item; attempt: number; delayMs: number; message: string }
  | { event: "delivered"; item: Item; bytes: number; files: number }
  | { event: "done"; item: Item; message: string }
  | { event: "failed"; item: Item; message: string }
  | { event: "stopped"; item: Item; reason: StopReason; wasRunning: boolean }
  | { event: "resumed"; item: Item; position: number }
  | { event: "choosing"; item: Item; offer: ChoiceOffer; deadline: number }
  | { event: "chosen"; item: Item; choice: Choice; timedOut: boolean };


/** A recording subscriber of the queue's events, in the shape tests read, which a test can await. */
export class EventRecorder {
  readonly reports: Report[] = [];
  private readonly waiters = new Waitlist<Report>();

  constructor(events: QueueEvents) {
    events.onAny((event) => {
      if (event.type !== "recovered") this.add(toReport(event));
    });
  }

  private add(report: Report): void {
    this.reports.push(report);
    this.waiters.notify(report);
  }

  /** Resolves with the first report (seen or coming) that matches. */
  next(pred: (r: Report) => boolean): Promise<Report> {
    return this.waiters.wait(this.reports, pred, 5000, () => `no matching report; saw ${this.reports.map((r) => r.event).join(", ")}`);
  }

  /** The events other than progress, in order, as `event:itemId`. */
  timeline(): string[] {
    return this.reports.filter((r) => r.event !== "progress").map((r) => `${r.event}:${r.item.id}`);
  }
}

/** An event as the tests compare it. */
function toReport(e: ItemEvent): Report {
  switch (e.type) {
    case "started":
    case "progress":
      return { event: e.type, item: e.item, state: e.transfer };
    case "notice":
      return { event: "notice", item: e.item, html: renderNotice(e.notice) };
    case "retrying":
      return { event: "retrying", item: e.item, attempt: e.attempt, delayMs: e.delayMs, message: describeReason(e.error.reason) };
    case "delivered":
      return { event: "delivered", item: e.item, bytes: e.bytes, files: e.files };
    case "done":
      return { event: "done", item: e.item, message: doneLine(e.summary) };
    case "failed":
      return { event: "failed", item: e.item, message: describeReason(e.error.reason) };
    case "stopped":
      return { event: "stopped", item: e.item, reason: e.reason, wasRunning: e.wasRunning };
    case "resumed":
      return { event: "resumed", item: e.item, position: e.position };
    case "choosing":
      return { event: "choosing", item: e.item, offer: e.offer, deadline: e.deadline };
    case "chosen":
      return { event: "chosen", item: e.item, choice: e.choice, timedOut: e.timedOut };
  }
}

/**
 * A handler the test steers: each item's download runs `behaviour(ctx)`; by default it writes the
 * item's URL as the file's bytes. `gate()` makes downloads wait until the test opens it (or the
 * item is stopped, which every real handler honours through the signal).
 */
export class ScriptedSource implements Source {
  readonly kind = "direct" as const;
  readonly runs: number[] = [];
  behaviour: (ctx: SourceContext) => Promise<SourceResult> = (ctx) => this.writeUrl(ctx);
  private gateOpen: Promise<void> = Promise.resolve();
  private openGate?: () => void;
  private readonly entered = new Waitlist<number>();

  gate(): void {
    this.gateOpen = new Promise((r) => (this.openGate = r));
  }

  open(): void {
    this.openGate?.();
  }

  /** Resolves once a download of `itemId` started. */
  running(itemId: number): Promise<number> {
    return this.entered.wait(this.runs, (id) => id === itemId, 5000, () => `item ${itemId} never started; ran ${this.runs.join(", ")}`);
  }

  async download(ctx: SourceContext): Promise<SourceResult> {
    this.runs.push(ctx.item.id);
    this.entered.notify(ctx.item.id);
    ctx.progress({ bytesDone: 0, totalBytes: null });
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(ctx.signal.reason);
      if (ctx.signal.aborted) return onAbort();
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      void this.gateOpen.then(() => {
        ctx.signal.removeEventListener("abort", onAbort);
        resolve();
      });
    });
    return this.behaviour(ctx);
  }

  async writeUrl(ctx: SourceContext): Promise<SourceResult> {
    const file = path.join(ctx.dir, `${ctx.item.id}.bin`);
    await writeFile(file, ctx.item.url);
    ctx.progress({ bytesDone: ctx.item.url.length, totalBytes: ctx.item.url.length });
    return { kind: "files", files: [{ path: file, name: `${ctx.item.id}.bin`, size: ctx.item.url.length }] };
  }
}

/**
 * The queue engine on its own: a real SQLite file with the real migrations, the real worker and
 * queue control, a scripted handler, a recording uploader and a recording subscriber of its events.
 */
export class QueueWorld {
  readonly uploads: Array<{ itemId: number; name: string; bytes: string }> = [];
  worker!: QueueWorker;
  control!: QueueControl;

  private constructor(
    readonly dir: string,
    public db: Db,
    readonly source: ScriptedSource,
    public events: QueueEvents,
    public recorder: EventRecorder,
    readonly retryDelaysMs: number[],
    readonly otherSources: Partial<Record<SourceKind, Source>>,
  ) {}

  /** `sources`: handlers of other kinds beside the scripted direct one (a page handler, say); a `direct` here replaces it. */
  static async create(options: { retryDelaysMs?: number[]; sources?: Partial<Record<SourceKind, Source>> } = {}): Promise<QueueWorld> {
    const dir = await mkdtemp(path.join(tmpdir(), "dlbot-queue-"));
    const db = openDatabase(path.join(dir, "bot.sqlite"));
    await migrateToLatest(db);
    const events = new QueueEvents();
    const world = new QueueWorld(dir, db, new ScriptedSource(), events, new EventRecorder(events), options.retryDelaysMs ?? [0], options.sources ?? {});
    world.build();
    return world;
  }

  private build(): void {
    const logger = createLogger({ level: "silent", secrets: [] });
    const upload: FileUploader = async (item, file) => {
      const { readFile } = await import("node:fs/promises");
      this.uploads.push({ itemId: item.id, name: file.name, bytes: await readFile(file.path, "utf8") });
      return { fileId: `F${item.id}-${file.position}`, kind: "document" };
    };
    const disk = new DataDisk({ dir: this.dir, logger, freeBytes: async () => 1e12 });
    const checks = { db: this.db, http: createHttpClient({ allowPrivateNetworks: true }), logger, maxFileSizeBytes: 1e9 };
    this.worker = new QueueWorker({
      db: this.db,
      logger,
      config: { dataDir: this.dir, maxFileSizeBytes: 1e9, progressIntervalMs: 50, retryDelaysMs: this.retryDelaysMs, uploadLimitBytes: 1e9, splitLargeFiles: true, chooseTimeoutMs: 60_000 },
      sources: { direct: this.source, ...this.otherSources },
      upload,
      // Found items skip the HTTP pre-check here: the URLs point nowhere.
      enqueue: (of, found) =>
        enqueueUrl(checks, { chatId: of.chatId, userId: of.userId, url: found.url, title: found.url.split("/").pop()!, skipProbe: true }),
      events: this.events,
      disk,
    });
    this.control = new QueueControl({
      db: this.db,
      worker: this.worker,
      events: this.events,
      disk,
      logger,
    });
  }

  /** Stores an item as intake would (no pre-check); `url` by default points nowhere. */
  async add(name: string, chatId = 1, url = `https://files.invalid/${name}`): Promise<Item> {
    const result = await insertItem(this.db, { chatId, userId: 2, url, sourceKind: "direct", title: name, sizeBytes: null }, Date.now());
    if (!result.inserted) throw new Error("not inserted");
    this.worker.notify();
    return result.item;
  }

  /** A new process on the same database file: a fresh worker, control and event stream. */
  async restart(): Promise<void> {
    await this.worker.stop(2000);
    await this.db.destroy();
    this.db = openDatabase(path.join(this.dir, "bot.sqlite"));
    this.events = new QueueEvents();
    this.recorder = new EventRecorder(this.events);
    this.build();
    await this.worker.start();
  }

  async close(): Promise<void> {
    this.source.open();
    await this.worker.stop(2000);
    await this.db.destroy();
    await rm(this.dir, { recursive: true, force: true });
  }
}

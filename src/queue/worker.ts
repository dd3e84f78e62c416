import { promises as fs } from "node:fs";
import path from "node:path";
import type { Config } from "../config.ts";
import type { Db } from "../db/database.ts";
import {
  claimNextItem,
  complete,
  countQueued,
  fail,
  findItem,
  findOpenByUrl,
  forgetFiles,
  listItemFiles,
  listItems,
  listOpenItems,
  listWithProgressMessage,
  markDownloaded,
  markFileUploaded,
  nextReadyAt,
  queuePosition,
  scheduleRetry,
  stop as stopRunning,
  updateItem,
} from "../db/item-repository.ts";
import { clearSegments, loadSegments, saveSegments } from "../db/segment-repository.ts";
import { getSetting, putSetting } from "../db/settings-repository.ts";
import { AppError, DownloadError, type ErrorCode, StopError, isDiskFull, toAppError } from "../errors.ts";
import { ACTIVE_STATUSES, type Item, type ItemFile, type ItemPatch, type ItemStatus, type SourceKind } from "../items/item.ts";
import type { Logger } from "../logger.ts";
import type { DeliverableFile, FoundItem, FoundOutcome, Source, SourceResult } from "../sources/source.ts";
import type { DataDisk } from "../storage/data-disk.ts";
import { itemDir } from "../storage/paths.ts";
import type { QueueReporter, StopReason, TransferState } from "./reporter.ts";
import { decideRetry } from "./retry-policy.ts";
import { uploadParts } from "./upload-parts.ts";

export type WorkerConfig = Pick<
  Config,
  "dataDir" | "maxFileSizeBytes" | "progressIntervalMs" | "retryDelaysMs" | "uploadLimitBytes" | "splitLargeFiles"
>;

/** Sends one finished file of an item to its chat; resolves with Telegram's file_id and the method used. */
export type FileUploader = (
  item: Item,
  file: ItemFile,
  options: { signal: AbortSignal; onBytes: (sent: number) => void },
) => Promise<{ fileId: string | null; kind: string }>;

/** Sends 2 to 10 files of an item as one album; resolves with each one's file_id and method, in order. */
export type GroupUploader = (
  item: Item,
  files: ItemFile[],
  options: { signal: AbortSignal; onBytes: (sent: number) => void },
) => Promise<Array<{ fileId: string | null; kind: string }>>;

/** Most files Telegram takes in one album. */
const ALBUM_SIZE = 10;

/** Queues an item found by a handler (through intake's checks), in the chat and for the request of `of`. */
export type FoundItemQueuer = (of: Item, found: FoundItem) => Promise<FoundOutcome>;

export interface WorkerDeps {
  db: Db;
  logger: Logger;
  config: WorkerConfig;
  sources: Partial<Record<SourceKind, Source>>;
  upload: FileUploader;
  /** Sends files together as one album (2 to 10 parts of a big file); without it, one by one. */
  uploadGroup?: GroupUploader;
  /**
   * What goes up for the downloaded files (parts of files over the upload limit, a remux that
   * plays): called once, before the files are recorded. Default: byte parts of files over the limit.
   */
  prepare?: (files: DeliverableFile[], signal: AbortSignal) => Promise<DeliverableFile[]>;
  enqueue: FoundItemQueuer;
  reporter: QueueReporter;
  /** The data directory's disk: room checks, and the ballast given up when it is full. */
  disk: DataDisk;
  now?: () => number;
}

/** How long a stop waits for Telegram's answer to an upload whose bytes all went out. */
const ANSWER_GRACE_MS = 1500;

/** The settings key of the whole queue's pause switch. */
const QUEUE_PAUSED = "queue_paused";

/** How often a worker held up by a full disk looks for free space again. */
const DISK_POLL_MS = 2000;

/**
 * How long a refused write of an attempt's outcome (a full disk, a lock held too long) is tried
 * again before the loop takes it over: the waits before each new try.
 */
const RECORD_RETRY_MS = [250, 1000, 2000, 4000];

/** The stable code of an attempt that a stopped bot process cut short. */
export const INTERRUPTED: ErrorCode = "INTERRUPTED";

/**
 * The failure of an attempt the bot process did not live to finish (killed, out of memory, a
 * crash): retried like any other failure; the last one tells the chat what to do.
 */
export function interruptedError(attempt: number, attempts: number): DownloadError {
  const last = attempt >= attempts;
  return new DownloadError(INTERRUPTED, `the bot process stopped during attempt ${attempt} of ${attempts}`, {
    retryable: true,
    userMessage: last
      ? `the bot stopped while working on this download (attempt ${attempt} of ${attempts}); send it again with /retry if it should work.`
      : "the bot stopped while working on this download.",
  });
}

interface Active {
  item: Item;
  controller: AbortController;
  /** Settles once the worker has recorded the item's outcome and let go of it. */
  released: Promise<void>;
  release: () => void;
  /**
   * Set once every byte of the file being uploaded went out and only Telegram's answer is
   * missing: aborting then would lose the record of an upload that happened (it would go up a
   * second time), so a stop waits for the answer first (a little while at most).
   */
  answer?: Promise<void>;
  /** The stop asked for while an answer was awaited; applied once it came. */
  deferred?: StopError;
}

/**
 * The queue's single worker: takes the next ready item, runs it to the end (download, upload) and
 * decides what a failure means, reporting each step to a `QueueReporter`. One item at a time,
 * highest priority then oldest first. It sleeps on a promise while idle (no polling), woken by
 * `notify()` or by the next scheduled retry. It owns the running item and the queue's pause
 * switch: everyone else stops the running item through `stopItem`, which settles once the outcome
 * is recorded.
 */
export class QueueWorker {
  private readonly now: () => number;
  private readonly stopping = new AbortController();
  private loop?: Promise<void>;
  private active?: Active;
  /** The claim in flight: until it settles, the database may show an item active that `active` does not hold yet. */
  private claiming?: Promise<Item | undefined>;
  private paused = false;
  /**
   * Outcomes the database refused for longer than the worker waited (a full disk): each records
   * and reports one item's end, and the loop runs them before anything new starts. The item's row
   * says "active" meanwhile, and only one item may be.
   */
  private readonly pending = new Map<number, () => Promise<void>>();
  /** Nothing starts for lack of disk space (said once in the log, not at every look). */
  private diskWait = false;
  private dirty = false;
  private wake?: () => void;

  constructor(private readonly deps: WorkerDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Reads the pause switch, settles the items a previous process left active (their attempt was
   * counted when it started: it failed, and is retried or failed for good like any other), then
   * starts the loop. A full disk does not stop it: what cannot be written now is written by the loop.
   */
  async start(): Promise<void> {
    const { db, logger } = this.deps;
    this.paused = (await getSetting(db, QUEUE_PAUSED)) === "1";
    await this.removeOrphanDirs();
    if (await this.deps.disk.isFull()) {
      logger.warn({ dir: this.deps.disk.dir }, "the data disk is full: nothing is downloaded until space is freed");
    }
    // Items whose message start() already brought up to date.
    const told = new Set<number>();
    for (const item of await listItems(db, { statuses: ACTIVE_STATUSES })) {
      const settle = async () => {
        if (await this.settleInterrupted(item)) told.add(item.id);
      };
      try {
        await this.withRoom(settle);
      } catch (error) {
        // The loop settles it once the database can write again.
        this.pending.set(item.id, settle);
        logger.error({ itemId: item.id, err: errorText(error) }, "could not settle an interrupted item yet");
      }
    }
    await this.deps.disk.restoreBallast();
    // Messages the previous process left live: the chat side brings each up to date.
    const waiting = await countQueued(db);
    for (const item of await listWithProgressMessage(db)) {
      if (!told.has(item.id)) this.tell((r) => r.restored(item, { queuePaused: this.paused, waiting }));
    }
    this.loop = this.run();
  }

  /**
   * An item a previous process left active: that attempt ended when the process did. Back in
   * line after the retry delay, or failed once its attempts are used up, so a link that kills the
   * bot cannot do it for ever. True when the chat was told here (else `restored` tells it).
   */
  private async settleInterrupted(item: Item): Promise<boolean> {
    const { config, logger } = this.deps;
    const now = this.now();
    // Claimed by a version that did not count attempts at the claim: that run counts all the same.
    const attempt = Math.max(1, item.attempts);
    const attempts = config.retryDelaysMs.length + 1;
    const error = interruptedError(attempt, attempts);
    const decision = decideRetry(error, attempt, config.retryDelaysMs);
    const failure = { attempts: attempt, errorCode: error.code, lastError: error.userMessage };
    if (decision.retry) {
      const queued = await scheduleRetry(this.deps.db, item.id, failure, now + decision.delayMs, now);
      if (!queued) return false;
      logger.info({ itemId: item.id, attempt, retryInMs: decision.delayMs }, "an item was interrupted by the end of the last process; retry scheduled");
      // Back at once: the restored message says it continues. Later: the message says when.
      if (decision.delayMs === 0) return false;
      this.tell((r) => r.retrying(queued, { error, attempt, attempts, delayMs: decision.delayMs }));
      return true;
    }
    const failed = await fail(this.deps.db, item.id, failure, now);
    if (!failed) return false;
    await this.removeItemDir(item.id);
    logger.warn({ itemId: item.id, code: error.code, attempts: attempt }, "item failed: the bot process stopped during each of its last attempts");
    this.tell((r) => r.failed(failed, error));
    return true;
  }

  /** Stops taking items, checkpoints the running one (its bytes stay on disk) and waits for it. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.stopping.abort();
    this.abortActive(new StopError("shutdown"));
    this.wake?.();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Something changed (an item was added, resumed, reprioritised): look again at once. */
  notify(): void {
    this.dirty = true;
    this.wake?.();
  }

  get activeItemId(): number | undefined {
    return this.active?.item.id;
  }

  get queuePaused(): boolean {
    return this.paused;
  }

  /**
   * Stops the running transfer of `itemId` (within a second: every handler honours the signal;
   * an upload whose bytes all went out first gets Telegram's answer, 1.5 s at most, so it is
   * recorded) and resolves once the worker has recorded the outcome. Resolves false when that
   * item is not the one running. When another stop got there first, that one's outcome stands.
   */
  async stopItem(itemId: number, reason: Exclude<StopReason, "shutdown">): Promise<boolean> {
    await this.claiming?.catch(() => undefined);
    const active = this.active;
    if (!active || active.item.id !== itemId) return false;
    this.abortActive(new StopError(reason));
    await active.released;
    return true;
  }

  /**
   * Fails the running attempt with `error` (an exception no callback caught, most likely thrown
   * by this item's transfer): recorded and retried like any failure, so the item cannot hang
   * half-way, nor take the process down. False when nothing runs.
   */
  failActive(error: unknown): boolean {
    const active = this.active;
    if (!active || active.controller.signal.aborted) return false;
    const failure = toAppError(error);
    // An upload whose bytes all went out gets Telegram's answer first, as a stop does: aborting
    // now would lose the record of a file that was delivered, and send it again on the retry.
    if (!active.answer) {
      active.controller.abort(failure);
      return true;
    }
    let timer: NodeJS.Timeout | undefined;
    void Promise.race([active.answer, new Promise<void>((r) => (timer = setTimeout(r, ANSWER_GRACE_MS)))]).then(() => {
      clearTimeout(timer);
      if (!active.controller.signal.aborted) active.controller.abort(failure);
    });
    return true;
  }

  /**
   * Nothing starts until `resumeQueue`; the running transfer stops, keeps its bytes and goes back
   * in line. Survives restarts. Resolves once the running item (if any) is back in line.
   */
  async pauseQueue(): Promise<{ changed: boolean; heldItemId?: number }> {
    if (this.paused) return { changed: false };
    this.paused = true;
    await putSetting(this.deps.db, QUEUE_PAUSED, "1", this.now());
    await this.claiming?.catch(() => undefined);
    const active = this.active;
    this.deps.logger.info({ heldItemId: active?.item.id }, "queue paused");
    if (!active) return { changed: true };
    await this.stopItem(active.item.id, "hold");
    return { changed: true, heldItemId: active.item.id };
  }

  async resumeQueue(): Promise<{ changed: boolean }> {
    if (!this.paused) return { changed: false };
    this.paused = false;
    await putSetting(this.deps.db, QUEUE_PAUSED, "0", this.now());
    this.notify();
    this.deps.logger.info("queue resumed");
    return { changed: true };
  }

  // --- the loop -----------------------------------------------------------------------------------

  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      try {
        await this.turn();
      } catch (error) {
        // Each step handles its own failures; this is a bug. The loop must outlive it.
        this.deps.logger.error({ err: errorText(error) }, "the queue loop failed; going on");
        await this.sleep(1000);
      }
    }
  }

  /** One go round the loop: record what is pending, else run the next item, else wait for one. */
  private async turn(): Promise<void> {
    const { logger } = this.deps;
    this.dirty = false;
    // An outcome the database could not take (a full disk) goes in before anything new starts.
    if (this.pending.size && !(await this.recordPending())) {
      await this.sleep(5000);
      return;
    }
    // An item that failed for a full disk would fail again at once while it is still full, and
    // use up its attempts for nothing: it waits for room instead (a new item still starts, and
    // tells its chat why it cannot download; files on disk already still go up, which frees space).
    const diskFull = await this.deps.disk.isFull();
    if (diskFull !== this.diskWait) {
      this.diskWait = diskFull;
      if (diskFull) logger.warn({ dir: this.deps.disk.dir }, "the data disk is full: items that failed for it wait until space is freed");
      else logger.info("the data disk has room again");
    }
    let item: Item | undefined;
    this.claiming = this.claim(diskFull);
    try {
      item = await this.claiming;
    } catch (error) {
      logger.error({ err: errorText(error) }, "could not read the queue");
      await this.sleep(1000);
      return;
    } finally {
      this.claiming = undefined;
    }
    if (!item) {
      await this.waitForWork(diskFull);
      return;
    }
    const active = this.active!;
    const log = logger.child({ itemId: item.id });
    try {
      await this.process(item, active.controller.signal, log);
    } catch (error) {
      // process() records every outcome itself; reaching here is a bug. The attempt fails like
      // any other rather than leave the item "running" with nothing running it.
      log.error({ err: errorText(error) }, "item processing crashed");
      await this.settle(item, () => this.onFailed(item, toAppError(error), log), log);
    } finally {
      this.active = undefined;
      active.release();
    }
    // Given up when the disk was full: back once there is room again.
    if (!this.stopping.signal.aborted) await this.deps.disk.restoreBallast();
  }

  /** Takes the next ready item and makes it the active one, unless the queue is paused. */
  private async claim(diskFull: boolean): Promise<Item | undefined> {
    if (this.paused || this.stopping.signal.aborted) return undefined;
    const item = await claimNextItem(this.deps.db, this.now(), { skipDiskFull: diskFull });
    if (!item) return undefined;
    if (this.paused || this.stopping.signal.aborted) {
      // Paused (or stopping) while this item was being claimed: back in line, its attempt unused.
      const log = this.deps.logger.child({ itemId: item.id });
      await this.settle(item, async () => void (await this.moved(item, "queued", stopRunning(this.deps.db, item, "queued", {}, this.now()))), log);
      return undefined;
    }
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    this.active = { item, controller: new AbortController(), released, release };
    return item;
  }

  /** Sleeps until notified, or until the next retry is due (with a full disk, looks again every few seconds). */
  private async waitForWork(diskFull = false): Promise<void> {
    if (this.dirty || this.stopping.signal.aborted) return;
    const next = this.paused ? undefined : await nextReadyAt(this.deps.db);
    let delay = next === undefined ? undefined : Math.max(0, next - this.now());
    // Items are ready but wait for room: statfs is cheap, a notice of freed space does not exist.
    if (diskFull && delay !== undefined) delay = Math.max(delay, DISK_POLL_MS);
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      if (this.dirty || this.stopping.signal.aborted) return done();
      if (delay !== undefined) timer = setTimeout(done, Math.min(delay, 2 ** 31 - 1));
    });
  }

  /** Runs a database write; when the disk is full, gives up the ballast and tries once more. */
  private async withRoom<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (!isDiskFull(error) || !(await this.deps.disk.releaseBallast())) throw error;
      return write();
    }
  }

  /** Runs a database write; one the database refuses (a full disk, a lock held too long) is tried again for a few seconds. */
  private async persist<T>(write: () => Promise<T>, log: Logger): Promise<T> {
    for (let round = 0; ; round++) {
      try {
        return await this.withRoom(write);
      } catch (error) {
        const wait = RECORD_RETRY_MS[round];
        if (wait === undefined) throw error;
        log.warn({ err: errorText(error), retryInMs: wait }, "the database refused a write; trying again");
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /**
   * Records the end of an item's attempt (`outcome`: its move, files and report), tried again
   * while the database refuses; after a few seconds the loop takes it over, and nothing new
   * starts until it went in. Never throws.
   */
  private async settle(item: Item, outcome: () => Promise<void>, log: Logger): Promise<void> {
    try {
      await this.persist(outcome, log);
    } catch (error) {
      log.error({ err: errorText(error) }, "could not record the outcome of the attempt; the loop tries again");
      this.pending.set(item.id, outcome);
    }
  }

  /** Records the outcomes the database refused so far; true once none is left. */
  private async recordPending(): Promise<boolean> {
    for (const [itemId, outcome] of [...this.pending]) {
      try {
        await this.withRoom(outcome);
        this.pending.delete(itemId);
        this.deps.logger.info({ itemId }, "recorded the outcome the database refused before");
      } catch (error) {
        this.deps.logger.error({ itemId, err: errorText(error) }, "could not record an item's outcome yet");
      }
    }
    return this.pending.size === 0;
  }

  /** Tells the reporter something. A report is not the item's outcome: its failure is only logged. */
  private tell(report: (reporter: QueueReporter) => void): void {
    try {
      report(this.deps.reporter);
    } catch (error) {
      this.deps.logger.error({ err: errorText(error) }, "a report failed");
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.stopping.signal;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** Aborts the running item, after the pending answer to its upload if there is one. */
  private abortActive(stop: StopError): void {
    const active = this.active;
    if (!active || active.controller.signal.aborted || active.deferred) return;
    if (!active.answer) {
      active.controller.abort(stop);
      return;
    }
    // The first stop wins, as an abort's reason would.
    active.deferred = stop;
    let timer: NodeJS.Timeout | undefined;
    void Promise.race([active.answer, new Promise<void>((r) => (timer = setTimeout(r, ANSWER_GRACE_MS)))])
      .then(() => {
        clearTimeout(timer);
        active.controller.abort(stop);
      })
      .catch((error: unknown) => this.deps.logger.error({ err: errorText(error) }, "could not stop the running item"));
  }

  /** The running item as stored after `moving` it out of its active status (to `to`). */
  private async moved(item: Item, to: ItemStatus, moving: Promise<Item | undefined>): Promise<Item> {
    const moved = await moving;
    if (!moved) {
      // Only the worker moves an active item: either a recording tried again finds its own
      // earlier write (which went in, and only the read after it failed), or the row changed under us.
      const row = await findItem(this.deps.db, item.id);
      if (row?.status !== to) this.deps.logger.warn({ itemId: item.id, to }, "the running item was no longer active");
      return row ?? item;
    }
    return moved;
  }

  // --- one item -----------------------------------------------------------------------------------

  private async process(item: Item, signal: AbortSignal, log: Logger): Promise<void> {
    const { db, config } = this.deps;
    const state: TransferState = {
      title: item.title,
      phase: item.downloaded ? "uploading" : "starting",
      bytesDone: item.downloaded ? 0 : item.bytesDone,
      totalBytes: item.sizeBytes,
      waiting: 0,
      // Counted by the claim: this attempt is already in.
      attempt: item.attempts,
      attempts: config.retryDelaysMs.length + 1,
    };
    const report = () => this.tell((r) => r.progress(item, { ...state }));
    let ticker: NodeJS.Timeout | undefined;
    try {
      state.waiting = await countQueued(db);
      this.tell((r) => r.started(item, { ...state }));
      ticker = setInterval(() => {
        // Keeps bytes_done current for /queue and for a paused item's view; the file is the truth.
        if (state.phase === "downloading") void updateItem(db, item.id, { bytesDone: state.bytesDone }, this.now()).catch(() => {});
        countQueued(db).then(
          (n) => {
            state.waiting = n;
            report();
          },
          () => report(),
        );
      }, config.progressIntervalMs);
      log.info({ url: item.url, kind: item.sourceKind, attempt: item.attempts }, "item started");

      if (!item.downloaded) {
        const result = await this.download(item, state, signal, log, report);
        if (result.kind === "done") {
          await this.settle(item, () => this.onDone(item, result.message, log), log);
          return;
        }
        // Over the upload limit: parts (or a refusal), decided once and recorded with the files.
        state.note = "preparing the upload";
        report();
        const parts = this.deps.prepare
          ? await this.deps.prepare(result.files, signal)
          : uploadParts(result.files, { limit: config.uploadLimitBytes, split: config.splitLargeFiles });
        // Tried again when refused for a moment: the files are on disk, a retry would fetch them again.
        await this.persist(() => markDownloaded(db, item.id, parts, this.now()), log);
        log.info({ files: result.files.length, uploads: parts.length }, "download complete");
      }

      state.phase = "uploading";
      state.note = undefined;
      state.details = undefined;
      const uploaded = await this.upload(item, state, signal, report);
      await this.settle(item, () => this.onDelivered(item, uploaded, log), log);
    } catch (thrown) {
      // Once stopped (on purpose, or failed from outside by failActive), whatever the transfer
      // threw on its way out is not the reason.
      const error = signal.aborted && signal.reason instanceof AppError ? signal.reason : toAppError(thrown);
      if (error instanceof StopError) {
        await this.settle(item, () => this.onStopped(item, error, state, log), log);
      } else {
        await this.settle(item, () => this.onFailed(item, error, log), log);
      }
    } finally {
      clearInterval(ticker);
    }
  }

  /** Runs the item's handler, following hand-offs (a link that turned out to be a page or a torrent). */
  private async download(
    item: Item,
    state: TransferState,
    signal: AbortSignal,
    log: Logger,
    changed: () => void,
  ): Promise<{ kind: "files"; files: DeliverableFile[] } | { kind: "done"; message: string }> {
    const { db, config } = this.deps;
    const dir = itemDir(config.dataDir, item.id);
    await fs.mkdir(dir, { recursive: true });
    let current = item;
    for (let hop = 0; hop < 4; hop++) {
      const source = this.deps.sources[current.sourceKind];
      if (!source) {
        throw new DownloadError("INTERNAL", `no handler for ${current.sourceKind} items`, {
          userMessage: `${current.sourceKind === "crawler" ? "web pages" : current.sourceKind + " links"} are not supported by this bot yet.`,
        });
      }
      await this.assertDiskRoom(current);
      const result: SourceResult = await source.download({
        item: current,
        dir,
        signal,
        maxBytes: config.maxFileSizeBytes,
        logger: log,
        progress: (p) => {
          state.phase = "downloading";
          state.bytesDone = p.bytesDone;
          state.totalBytes = p.totalBytes;
          state.note = p.note;
          state.details = p.details;
          changed();
        },
        checkpoint: async (patch) => {
          await updateItem(db, current.id, patch, this.now());
          // The handler holds the item it was given: what it learnt shows there at once.
          Object.assign(current, patch);
          if (patch.title) {
            state.title = patch.title;
            item.title = patch.title;
          }
        },
        segments: {
          load: () => loadSegments(db, item.id),
          save: (segments) => saveSegments(db, item.id, segments),
          clear: () => clearSegments(db, item.id),
        },
        enqueue: (found) => this.deps.enqueue(item, found),
        findOpen: async (url) => {
          const open = await findOpenByUrl(db, item.chatId, url);
          if (!open) return undefined;
          return { item: open, position: open.status === "queued" ? await queuePosition(db, open) : null };
        },
        notice: (html) => this.deps.reporter.notice(item, html),
        ensureDiskRoom: (bytes) => this.deps.disk.assertRoom(bytes),
      });
      if (result.kind !== "reroute") return result;
      log.info({ from: current.sourceKind, to: result.sourceKind }, "handing the item to another handler");
      const patch = { sourceKind: result.sourceKind, ...(result.url ? { url: result.url } : {}) };
      await updateItem(db, current.id, patch, this.now());
      current = { ...current, ...patch };
    }
    throw new DownloadError("INTERNAL", "too many hand-offs between handlers", { userMessage: "the link could not be handled." });
  }

  private async assertDiskRoom(item: Item): Promise<void> {
    await this.deps.disk.assertRoom(item.sizeBytes === null ? 0 : Math.max(0, item.sizeBytes - item.bytesDone));
  }

  /** Uploads the files not uploaded yet, each recorded as soon as Telegram has it. */
  private async upload(item: Item, state: TransferState, signal: AbortSignal, changed: () => void): Promise<{ bytes: number; files: number }> {
    const { db } = this.deps;
    const files = await listItemFiles(db, item.id);
    const total = files.reduce((sum, f) => sum + f.sizeBytes, 0);
    let base = files.filter((f) => f.uploadedAt !== null).reduce((sum, f) => sum + f.sizeBytes, 0);
    state.totalBytes = total;
    state.bytesDone = base;
    changed();
    const active = this.active?.item.id === item.id ? this.active : undefined;
    for (let index = 0; index < files.length; ) {
      const file = files[index]!;
      if (file.uploadedAt !== null) {
        index++;
        continue;
      }
      // Parts of a big file go up together, as albums of up to ten; anything else one by one.
      const group = [file];
      while (
        this.deps.uploadGroup &&
        file.partOf !== null &&
        group.length < ALBUM_SIZE &&
        files[index + group.length]?.partOf === file.partOf &&
        files[index + group.length]?.uploadedAt === null
      ) {
        group.push(files[index + group.length]!);
      }
      const size = group.reduce((sum, f) => sum + f.sizeBytes, 0);
      // Several files (a torrent's, the parts of a big one): say which one is going up.
      if (files.length > 1) {
        state.details = [group.length > 1 ? `${index + 1}-${index + group.length} of ${files.length}: ${file.name} …` : `${index + 1} of ${files.length}: ${file.name}`];
      }
      for (const f of group) {
        try {
          await fs.access(f.path);
        } catch {
          await forgetFiles(db, item.id, this.now());
          throw new DownloadError("NETWORK", `the downloaded file ${f.name} is missing from disk`, {
            retryable: true,
            userMessage: "the downloaded file disappeared from the bot's disk; it will be downloaded again.",
          });
        }
      }
      let answered!: () => void;
      const answer = new Promise<void>((r) => (answered = r));
      const onBytes = (sent: number) => {
        state.bytesDone = base + Math.min(sent, size);
        if (active && sent >= size) active.answer ??= answer;
        changed();
      };
      try {
        const results =
          group.length > 1 && this.deps.uploadGroup
            ? await this.deps.uploadGroup(item, group, { signal, onBytes })
            : [await this.deps.upload(item, file, { signal, onBytes })];
        // Recorded at once, every file of an album together: none goes up twice.
        for (const [k, f] of group.entries()) await markFileUploaded(db, f.id, results[k]?.fileId ?? null, results[k]?.kind ?? "document", this.now());
        for (const f of group) {
          // A file of its own (a cut part, say) is not needed once it went up; byte parts share theirs.
          if (!files.some((other) => !group.includes(other) && other.path === f.path) && group.filter((g) => g.path === f.path).length === 1) {
            await fs.rm(f.path, { force: true }).catch(() => {});
          }
        }
      } finally {
        answered();
        if (active) active.answer = undefined;
      }
      base += size;
      index += group.length;
    }
    return { bytes: total, files: files.length };
  }

  // --- outcomes: each moves the item out of its active status, then reports. Run through
  // settle(), which tries them again when the database refuses: each may run more than once. ---

  /**
   * The attempt succeeded: its count is given back, so `attempts` keeps meaning the attempts that
   * failed (what the retry schedule, /queue and the "attempt N of M" lines count).
   */
  private async onDelivered(item: Item, result: { bytes: number; files: number }, log: Logger): Promise<void> {
    const delivered = await this.moved(item, "completed", complete(this.deps.db, item, this.now()));
    await this.removeItemDir(item.id);
    log.info(result, "item delivered");
    this.tell((r) => r.delivered(delivered, result));
  }

  private async onDone(item: Item, message: string, log: Logger): Promise<void> {
    const done = await this.moved(item, "completed", complete(this.deps.db, item, this.now()));
    await this.removeItemDir(item.id);
    log.info("item done without upload");
    this.tell((r) => r.done(done, message));
  }

  /** The attempt failed: it was counted when it started; retried after its delay, or failed for good. */
  private async onFailed(item: Item, error: AppError, log: Logger): Promise<void> {
    const { config } = this.deps;
    const attempt = Math.max(1, item.attempts);
    const attempts = config.retryDelaysMs.length + 1;
    const decision = decideRetry(error, attempt, config.retryDelaysMs);
    // A full disk: what this item wrote goes first (a retry starts over, from 0 bytes), which also
    // gives the database the room to record the failure.
    const diskFull = error.code === "DISK_FULL";
    const failure = { attempts: attempt, errorCode: error.code, lastError: error.userMessage, ...(diskFull ? { bytesDone: 0 } : {}) };
    if (diskFull) await this.removeItemDir(item.id);
    if (decision.retry) {
      const queued = await this.moved(item, "queued", scheduleRetry(this.deps.db, item.id, failure, this.now() + decision.delayMs, this.now()));
      log.warn({ code: error.code, err: error.message, attempt, retryInMs: decision.delayMs }, "attempt failed; retry scheduled");
      this.tell((r) => r.retrying(queued, { error, attempt, attempts, delayMs: decision.delayMs }));
      return;
    }
    const failed = await this.moved(item, "failed", fail(this.deps.db, item.id, failure, this.now()));
    await this.removeItemDir(item.id);
    log.warn({ code: error.code, err: error.message, attempts: attempt }, "item failed");
    this.tell((r) => r.failed(failed, error));
  }

  /** Stopped on purpose (cancel, pause, hold, shutdown): not a failure, so the attempt is given back. */
  private async onStopped(item: Item, stop: StopError, state: TransferState, log: Logger): Promise<void> {
    const reason = stop.reason;
    const { db } = this.deps;
    // The paused view and /queue show how far it got, not the last periodic checkpoint.
    const progress = state.phase === "downloading" ? { bytesDone: state.bytesDone } : {};
    let stopped: Item;
    if (reason === "cancel") {
      stopped = await this.moved(item, "cancelled", stopRunning(db, item, "cancelled", {}, this.now()));
      await this.removeItemDir(item.id);
    } else if (reason === "pause") {
      stopped = await this.moved(item, "paused", stopRunning(db, item, "paused", progress, this.now()));
    } else {
      // Hold (the whole queue paused) or shutdown: back in line, bytes kept, so the item continues
      // from them as soon as the queue runs again.
      stopped = await this.moved(item, "queued", stopRunning(db, item, "queued", { ...progress, readyAt: this.now() }, this.now()));
    }
    log.info({ reason }, reason === "shutdown" ? "item interrupted by shutdown; it resumes at the next start" : "item stopped");
    const waiting = await countQueued(this.deps.db);
    this.tell((r) => r.stopped(stopped, { reason, wasRunning: true, waiting }));
  }

  // --- files on disk ------------------------------------------------------------------------------

  /**
   * A crash between an item's final status and the removal of its files leaves a directory no
   * item will use again; clear those at start so the disk does not fill up over weeks.
   */
  private async removeOrphanDirs(): Promise<void> {
    const root = path.resolve(this.deps.config.dataDir, "downloads");
    let names: string[];
    try {
      names = await fs.readdir(root);
    } catch {
      return;
    }
    const open = new Set((await listOpenItems(this.deps.db)).map((i) => String(i.id)));
    const orphans = names.filter((name) => !open.has(name));
    for (const name of orphans) await fs.rm(path.join(root, name), { recursive: true, force: true }).catch(() => {});
    if (orphans.length) this.deps.logger.info({ removed: orphans.length }, "removed files of finished items");
  }

  /** Best effort: a file that cannot be removed must not turn a delivered item into a failure. */
  private async removeItemDir(itemId: number): Promise<void> {
    // The parts' progress describes files about to go: a later attempt must not trust it.
    await clearSegments(this.deps.db, itemId).catch(() => {});
    await fs.rm(itemDir(this.deps.config.dataDir, itemId), { recursive: true, force: true }).catch((error) => {
      this.deps.logger.warn({ itemId, err: error instanceof Error ? error.message : String(error) }, "could not remove an item's files");
    });
  }
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

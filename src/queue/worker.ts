import { promises as fs } from "node:fs";
import path from "node:path";
import type { Api } from "grammy";
import type { InlineKeyboardMarkup } from "grammy/types";
import type { MessageEditor } from "../bot/message-editor.ts";
import { uploadFile } from "../bot/uploader.ts";
import type { Config } from "../config.ts";
import {
  type Item,
  claimNextItem,
  countQueued,
  findItem,
  listItems,
  requeueIfActive,
  listItemFiles,
  markCompleted,
  markDownloaded,
  markFailed,
  markFileUploaded,
  nextReadyAt,
  requeueInterrupted,
  resetDownloaded,
  scheduleRetry,
  setStatus,
  updateItem,
} from "../db/item-repository.ts";
import type { Db } from "../db/database.ts";
import { OPEN_STATUSES, type SourceKind } from "../db/schema.ts";
import { AppError, DownloadError, StopError, toAppError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { DeliverableFile, Source, SourceResult } from "../sources/source.ts";
import { itemDir } from "../storage/paths.ts";
import { escapeHtml, formatBytes, truncate } from "../text/format.ts";
import { decideRetry } from "./retry-policy.ts";
import {
  type ProgressState,
  SpeedMeter,
  renderDelivered,
  renderFailed,
  renderProgress,
  renderRetrying,
} from "./progress-view.ts";

export type WorkerConfig = Pick<
  Config,
  "dataDir" | "maxFileSizeBytes" | "progressIntervalMs" | "retryDelaysMs" | "uploadAs"
>;

export interface WorkerDeps {
  db: Db;
  api: Api;
  editor: MessageEditor;
  logger: Logger;
  config: WorkerConfig;
  sources: Partial<Record<SourceKind, Source>>;
  now?: () => number;
  /** Free bytes on the data directory's disk (injectable for tests). */
  freeBytes?: (dir: string) => Promise<number>;
  /** Inline buttons for the progress message of an item (queue control plugs in here). */
  keyboard?: (item: Item, state: { paused: boolean }) => InlineKeyboardMarkup | undefined;
  /** Whether the whole queue is paused (nothing starts until resumed). */
  isQueuePaused?: () => boolean;
  /**
   * An item ended and `messageId` shows its final line: the progress message edited into it
   * ("progress"), or a message of its own ("notice": the failure line, or any final line of an
   * item whose progress message could not be sent). Queue control deletes transient
   * lines later and remembers which message is about which item.
   */
  onFinal?: (item: Item, outcome: FinalOutcome, messageId: number, kind: "progress" | "notice") => void;
}

export type FinalOutcome = "delivered" | "done" | "failed" | "cancelled";

/** Disk space kept free beyond what a download needs, so the database can still grow. */
const DISK_RESERVE_BYTES = 16 * 1024 * 1024;

export async function statfsFreeBytes(dir: string): Promise<number> {
  const s = await fs.statfs(dir);
  return s.bavail * s.bsize;
}

/** How long a stop waits for Telegram's answer to an upload whose bytes all went out. */
const ANSWER_GRACE_MS = 1500;

interface Active {
  item: Item;
  controller: AbortController;
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
 * The queue's single worker: takes the next ready item, runs it to the end (download, upload,
 * progress message) and decides what a failure means. One item at a time, oldest first. It sleeps
 * on a promise while idle (no polling), woken by `notify()` or by the next scheduled retry.
 */
export class QueueWorker {
  private readonly now: () => number;
  private readonly freeBytes: (dir: string) => Promise<number>;
  private readonly stopping = new AbortController();
  private loop?: Promise<void>;
  private active?: Active;
  private dirty = false;
  private wake?: () => void;
  private readonly finals = new Set<Promise<void>>();

  constructor(private readonly deps: WorkerDeps) {
    this.now = deps.now ?? Date.now;
    this.freeBytes = deps.freeBytes ?? statfsFreeBytes;
  }

  /** Puts items a crashed process left active back in line, then starts the loop. */
  async start(): Promise<void> {
    const requeued = await requeueInterrupted(this.deps.db, this.now());
    if (requeued > 0) this.deps.logger.info({ requeued }, "resuming items interrupted by a restart");
    await this.removeOrphanDirs();
    this.loop = this.run();
  }

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
    const open = new Set((await listItems(this.deps.db, { statuses: [...OPEN_STATUSES] })).map((i) => String(i.id)));
    const orphans = names.filter((name) => !open.has(name));
    for (const name of orphans) await fs.rm(path.join(root, name), { recursive: true, force: true }).catch(() => {});
    if (orphans.length) this.deps.logger.info({ removed: orphans.length }, "removed files of finished items");
  }

  /** Best effort: a file that cannot be removed must not turn a delivered item into a failure. */
  private async removeItemDir(itemId: number): Promise<void> {
    await fs.rm(itemDir(this.deps.config.dataDir, itemId), { recursive: true, force: true }).catch((error) => {
      this.deps.logger.warn({ itemId, err: error instanceof Error ? error.message : String(error) }, "could not remove an item's files");
    });
  }

  /** Something changed (an item was added, resumed, reprioritised): look again at once. */
  notify(): void {
    this.dirty = true;
    this.wake?.();
  }

  get activeItemId(): number | undefined {
    return this.active?.item.id;
  }

  /**
   * Stops the running transfer of `itemId` (within a second: every handler honours the signal;
   * an upload whose bytes all went out first gets Telegram's answer, 1.5 s at most, so it is
   * recorded). Returns false when that item is not the one running.
   */
  stopActive(itemId: number, reason: "cancel" | "pause" | "hold"): boolean {
    if (this.active?.item.id !== itemId) return false;
    this.abortActive(new StopError(reason));
    return true;
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
    void Promise.race([active.answer, new Promise<void>((r) => (timer = setTimeout(r, ANSWER_GRACE_MS)))]).then(() => {
      clearTimeout(timer);
      active.controller.abort(stop);
    });
  }

  /** Stops taking items, checkpoints the running one (its bytes stay on disk) and waits for it. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.stopping.abort();
    this.abortActive(new StopError("shutdown"));
    this.wake?.();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([this.loop, ...this.finals]),
      new Promise((r) => (timer = setTimeout(r, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  private async run(): Promise<void> {
    const { logger } = this.deps;
    while (!this.stopping.signal.aborted) {
      this.dirty = false;
      let item: Item | undefined;
      try {
        item = this.deps.isQueuePaused?.() ? undefined : await claimNextItem(this.deps.db, this.now());
      } catch (error) {
        logger.error({ err: error }, "could not read the queue");
        await this.sleep(1000);
        continue;
      }
      if (!item) {
        await this.waitForWork();
        continue;
      }
      if (this.deps.isQueuePaused?.()) {
        // The queue was paused while this item was being claimed: back in line, untouched.
        await setStatus(this.deps.db, item.id, "queued", this.now()).catch((error) => logger.error({ err: error }, "could not requeue"));
        continue;
      }
      const controller = new AbortController();
      this.active = { item, controller };
      const log = logger.child({ itemId: item.id });
      try {
        await this.process(item, controller.signal, log);
      } catch (error) {
        // process() handles its own failures; reaching here is a bug or a dead database (a full
        // disk refusing writes). Put the item back in line a minute from now rather than leave
        // it "running" until the next restart.
        log.error({ err: error instanceof Error ? error.message : String(error) }, "item processing crashed");
        await requeueIfActive(this.deps.db, item.id, this.now() + 60_000, this.now()).catch(() => {});
        await this.sleep(1000);
      } finally {
        this.active = undefined;
      }
    }
  }

  private async waitForWork(): Promise<void> {
    if (this.dirty || this.stopping.signal.aborted) return;
    const next = this.deps.isQueuePaused?.() ? undefined : await nextReadyAt(this.deps.db);
    const delay = next === undefined ? undefined : Math.max(0, next - this.now());
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

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.stopping.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private keyboard(item: Item, paused = false): InlineKeyboardMarkup | undefined {
    return this.deps.keyboard?.(item, { paused });
  }

  private async process(item: Item, signal: AbortSignal, log: Logger): Promise<void> {
    const { db, config } = this.deps;
    const attempts = config.retryDelaysMs.length + 1;
    const view: ProgressState = {
      title: item.title,
      phase: item.downloaded ? "uploading" : "starting",
      bytesDone: item.downloaded ? 0 : item.bytesDone,
      totalBytes: item.sizeBytes,
      speed: null,
      waiting: await countQueued(db),
      attempt: item.attempts + 1,
      attempts,
    };
    let meter = new SpeedMeter();
    // The transfer does not wait for its progress message: under a flood limit, sending it can
    // take retry_after seconds. Edits start once it exists; the endings below wait for it.
    let messageId: number | undefined;
    const messageReady = this.ensureProgressMessage(item, view, log).then(
      (id) => (messageId = id),
      () => undefined,
    );
    const show = () => {
      if (messageId === undefined || this.deps.editor.hasPending(item.chatId, messageId)) return;
      void this.deps.editor.edit(item.chatId, messageId, () => ({
        text: renderProgress({ ...view, speed: meter.speed() }),
        markup: this.keyboard(item),
      }));
    };
    const ticker = setInterval(() => {
      // Keeps bytes_done current for /queue and for a paused item's view; the file is the truth.
      if (view.phase === "downloading") void updateItem(db, item.id, { bytesDone: view.bytesDone }, this.now()).catch(() => {});
      countQueued(db).then(
        (n) => {
          view.waiting = n;
          show();
        },
        () => show(),
      );
    }, config.progressIntervalMs);

    log.info({ url: item.url, kind: item.sourceKind, attempt: item.attempts + 1 }, "item started");
    try {
      if (!item.downloaded) {
        const files = await this.download(item, view, signal, log, () => {
          meter.add(this.now(), view.bytesDone);
          show();
        });
        if (files.kind === "done") {
          await markCompleted(db, item.id, null, null, this.now());
          await this.removeItemDir(item.id);
          this.finish(item, await messageReady, `✅ <b>${escapeHtml(truncate(item.title, 200))}</b>: ${escapeHtml(files.message)}`, "done");
          log.info("item done without upload");
          return;
        }
        await markDownloaded(db, item.id, files.files, this.now());
        log.info({ files: files.files.length }, "download complete");
      }

      view.phase = "uploading";
      view.note = undefined;
      view.details = undefined;
      meter = new SpeedMeter();
      const total = await this.upload(item, view, signal, () => {
        meter.add(this.now(), view.bytesDone);
        show();
      });
      const files = await listItemFiles(db, item.id);
      const first = files[0];
      await markCompleted(db, item.id, files.length === 1 ? (first?.fileId ?? null) : null, first?.uploadKind ?? null, this.now());
      await this.removeItemDir(item.id);
      const fresh = (await findItem(db, item.id)) ?? item;
      this.finish(item, await messageReady, renderDelivered(fresh.title, total, files.length), "delivered");
      log.info({ bytes: total, files: files.length }, "item delivered");
    } catch (thrown) {
      // Once stopped on purpose, whatever the transfer threw on its way out is not a failure.
      const error = signal.aborted && signal.reason instanceof StopError ? signal.reason : toAppError(thrown);
      if (error instanceof StopError) {
        // The paused view and /queue show how far it got, not the last periodic checkpoint.
        if (view.phase === "downloading") await updateItem(db, item.id, { bytesDone: view.bytesDone }, this.now()).catch(() => {});
        await this.onStopped(item, error, await messageReady, log);
      } else {
        await this.onFailed(item, error, await messageReady, log);
      }
    } finally {
      clearInterval(ticker);
    }
  }

  /** Runs the item's handler, following hand-offs (a link that turned out to be a page or a torrent). */
  private async download(
    item: Item,
    view: ProgressState,
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
          view.phase = "downloading";
          view.bytesDone = p.bytesDone;
          view.totalBytes = p.totalBytes;
          view.note = p.note;
          view.details = p.details;
          changed();
        },
        checkpoint: async (patch) => {
          await updateItem(db, current.id, patch, this.now());
          if (patch.title) view.title = patch.title;
          current = { ...current, ...patch } as Item;
          if (patch.title) item.title = patch.title;
        },
      });
      if (result.kind !== "reroute") return result;
      log.info({ from: current.sourceKind, to: result.sourceKind }, "handing the item to another handler");
      await updateItem(db, current.id, { sourceKind: result.sourceKind, ...(result.url ? { url: result.url } : {}) }, this.now());
      current = { ...current, sourceKind: result.sourceKind, url: result.url ?? current.url, localPath: null };
    }
    throw new DownloadError("INTERNAL", "too many hand-offs between handlers", { userMessage: "the link could not be handled." });
  }

  private async assertDiskRoom(item: Item): Promise<void> {
    if (item.sizeBytes === null) return;
    const needed = Math.max(0, item.sizeBytes - item.bytesDone) + DISK_RESERVE_BYTES;
    const free = await this.freeBytes(this.deps.config.dataDir);
    if (free < needed) {
      throw new DownloadError("DISK_FULL", `need ${needed} bytes, ${free} free`, {
        retryable: true,
        userMessage: `not enough free disk space: the file needs ${formatBytes(needed)} and ${formatBytes(free)} is free.`,
      });
    }
  }

  private async upload(item: Item, view: ProgressState, signal: AbortSignal, changed: () => void): Promise<number> {
    const { db, api, config } = this.deps;
    const files = await listItemFiles(db, item.id);
    const total = files.reduce((sum, f) => sum + f.sizeBytes, 0);
    let base = files.filter((f) => f.uploadedAt !== null).reduce((sum, f) => sum + f.sizeBytes, 0);
    view.totalBytes = total;
    view.bytesDone = base;
    changed();
    const active = this.active?.item.id === item.id ? this.active : undefined;
    for (const file of files) {
      if (file.uploadedAt !== null) continue;
      try {
        await fs.access(file.path);
      } catch {
        await resetDownloaded(db, item.id, this.now());
        throw new DownloadError("NETWORK", `the downloaded file ${file.name} is missing from disk`, {
          retryable: true,
          userMessage: "the downloaded file disappeared from the bot's disk; it will be downloaded again.",
        });
      }
      let answered!: () => void;
      const answer = new Promise<void>((r) => (answered = r));
      try {
        const { fileId, kind } = await uploadFile(
          api,
          item.chatId,
          { path: file.path, name: file.name, size: file.sizeBytes, ...(file.caption ? { caption: file.caption } : {}) },
          {
            uploadAs: config.uploadAs,
            signal,
            replyTo: item.requestMessageId,
            onBytes: (sent) => {
              view.bytesDone = base + Math.min(sent, file.sizeBytes);
              if (active && sent >= file.sizeBytes) active.answer ??= answer;
              changed();
            },
          },
        );
        await markFileUploaded(db, file.id, fileId, kind, this.now());
      } finally {
        answered();
        if (active) active.answer = undefined;
      }
      base += file.sizeBytes;
    }
    return total;
  }

  private async ensureProgressMessage(item: Item, view: ProgressState, log: Logger): Promise<number | undefined> {
    const { api, db, editor } = this.deps;
    const text = renderProgress(view);
    const markup = this.keyboard(item);
    if (item.progressMessageId !== null) {
      void editor.edit(item.chatId, item.progressMessageId, { text, markup });
      return item.progressMessageId;
    }
    try {
      const message = await api.sendMessage(item.chatId, text, {
        parse_mode: "HTML",
        reply_markup: markup,
        link_preview_options: { is_disabled: true },
        ...(item.requestMessageId
          ? { reply_parameters: { message_id: item.requestMessageId, allow_sending_without_reply: true } }
          : {}),
      });
      editor.track(item.chatId, message.message_id, text, markup);
      await updateItem(db, item.id, { progressMessageId: message.message_id }, this.now());
      item.progressMessageId = message.message_id;
      return message.message_id;
    } catch (error) {
      log.warn({ err: error instanceof Error ? error.message : String(error) }, "could not send the progress message");
      return undefined;
    }
  }

  /** The progress message's last edit; not awaited by the loop (its interval must not delay the next item). */
  private finish(item: Item, messageId: number | undefined, text: string, outcome: FinalOutcome): void {
    if (messageId === undefined) {
      const sent = this.deps.api
        .sendMessage(item.chatId, text, { parse_mode: "HTML", link_preview_options: { is_disabled: true } })
        .then(
          // A message of its own: nothing else links it to the item (it has no progress message).
          (message) => this.deps.onFinal?.(item, outcome, message.message_id, "notice"),
          (error) => this.deps.logger.warn({ err: String(error) }, "could not send the final status"),
        );
      this.track(sent);
      return;
    }
    const edited = this.deps.editor.edit(item.chatId, messageId, { text }).then(() => {
      this.deps.editor.forget(item.chatId, messageId);
      this.deps.onFinal?.(item, outcome, messageId, "progress");
    });
    this.track(edited);
  }

  private track(promise: Promise<void>): void {
    this.finals.add(promise);
    void promise.finally(() => this.finals.delete(promise));
  }

  private async onFailed(item: Item, error: AppError, messageId: number | undefined, log: Logger): Promise<void> {
    const { db, config, api } = this.deps;
    const failed = item.attempts + 1;
    const decision = decideRetry(error, failed, config.retryDelaysMs);
    const now = this.now();
    const current = (await findItem(db, item.id)) ?? item;
    if (decision.retry) {
      await scheduleRetry(db, item.id, { attempts: failed, nextAttemptAt: now + decision.delayMs, code: error.code, message: error.userMessage }, now);
      log.warn({ code: error.code, err: error.message, attempt: failed, retryInMs: decision.delayMs }, "attempt failed; retry scheduled");
      if (messageId !== undefined) {
        const text = renderRetrying(current.title, error.userMessage, failed, config.retryDelaysMs.length + 1, decision.delayMs);
        void this.deps.editor.edit(item.chatId, messageId, { text, markup: this.keyboard(current) });
      }
      return;
    }
    await markFailed(db, item.id, { attempts: failed, code: error.code, message: error.userMessage }, now);
    await this.removeItemDir(item.id);
    log.warn({ code: error.code, err: error.message, attempts: failed }, "item failed");
    const text = renderFailed(current.title, error.userMessage);
    if (messageId === undefined) {
      this.finish(item, messageId, text, "failed");
      return;
    }
    // An edit notifies nobody, so the progress message is replaced by a new one: the chat is
    // told, and the failure shows once.
    this.deps.editor.forget(item.chatId, messageId);
    const replaced = api
      .sendMessage(item.chatId, text, {
        parse_mode: "HTML",
        link_preview_options: { is_disabled: true },
        ...(item.requestMessageId ? { reply_parameters: { message_id: item.requestMessageId, allow_sending_without_reply: true } } : {}),
      })
      .then(
        async (message) => {
          this.deps.onFinal?.(item, "failed", message.message_id, "notice");
          await api.deleteMessage(item.chatId, messageId).catch(() => {
            // Too old to delete (48 h) or already gone: leave it as the final line instead.
            void this.deps.editor.edit(item.chatId, messageId, { text });
          });
        },
        (e) => {
          log.warn({ err: String(e) }, "could not send the failure message");
          this.finish(item, messageId, text, "failed");
        },
      );
    this.track(replaced);
  }

  private async onStopped(item: Item, stop: StopError, messageId: number | undefined, log: Logger): Promise<void> {
    const { db, config } = this.deps;
    const now = this.now();
    const current = (await findItem(db, item.id)) ?? item;
    if (stop.reason === "cancel") {
      await setStatus(db, item.id, "cancelled", now, { finished: true });
      await this.removeItemDir(item.id);
      log.info("item cancelled");
      this.finish(item, messageId, `✖️ <b>${escapeHtml(truncate(current.title, 200))}</b>: cancelled`, "cancelled");
      return;
    }
    if (stop.reason === "pause") {
      await setStatus(db, item.id, "paused", now);
      log.info("item paused");
      if (messageId !== undefined) {
        const text = await this.renderPaused(current);
        void this.deps.editor.edit(item.chatId, messageId, { text, markup: this.keyboard(current, true) });
      }
      return;
    }
    // Hold (the whole queue paused) or shutdown: back in line, bytes kept, so the item continues
    // from them as soon as the queue runs again.
    await setStatus(db, item.id, "queued", now, { nextAttemptAt: now });
    if (stop.reason === "hold") {
      log.info("item held: the queue is paused");
      if (messageId !== undefined) {
        const text = await this.renderPaused(current, ["The whole queue is paused: /resume continues."]);
        void this.deps.editor.edit(item.chatId, messageId, { text, markup: this.keyboard(current) });
      }
      return;
    }
    log.info("item interrupted by shutdown; it will resume at the next start");
  }

  /** The progress message of a stopped item that keeps its bytes (paused, or held by /pause). */
  private async renderPaused(current: Item, details?: string[]): Promise<string> {
    return renderProgress({
      title: current.title,
      phase: current.downloaded ? "uploading" : "downloading",
      bytesDone: current.bytesDone,
      totalBytes: current.sizeBytes,
      speed: null,
      waiting: await countQueued(this.deps.db),
      paused: true,
      // An upload cannot continue half-way: say so rather than show a full bar.
      note: current.downloaded ? "Downloaded; the upload starts again on resume." : undefined,
      details,
    });
  }
}

import { countQueued, findOpenByUrl, markDownloaded, queuePosition, updateItem } from "../db/item-repository.ts";
import { clearSegments, loadSegments, saveSegments } from "../db/segment-repository.ts";
import { AppError, DownloadError, StopError, toAppError } from "../errors.ts";
import type { ChoiceOffer } from "../items/choice.ts";
import type { Item, SourceKind } from "../items/item.ts";
import type { Logger } from "../logger.ts";
import type { DeliverableFile, DoneSummary, SourceResult } from "../sources/source.ts";
import type { ActiveItem } from "./active-item.ts";
import { deliver } from "./delivery.ts";
import { EarlyUpload } from "./early-upload.ts";
import { makeItemFolder } from "./item-folder.ts";
import type { OutcomeRecorder } from "./outcome-recorder.ts";
import type { ItemOutcomes } from "./outcomes.ts";
import type { TransferState } from "./events.ts";
import { uploadParts } from "./upload-parts.ts";
import type { WorkerDeps } from "./worker-deps.ts";

/** How many times an item may be handed from one handler to another (page, torrent...). */
const MAX_HOPS = 4;

/**
 * Runs one item to the end of its attempt: download (following hand-offs between handlers), what
 * goes up, the upload, then the outcome (delivered, done, failed or retried, stopped), recorded
 * through the recorder. Reports progress as it goes. Never throws for the item's own failures.
 */
export class ItemRun {
  private readonly now: () => number;

  constructor(
    private readonly deps: WorkerDeps,
    private readonly recorder: OutcomeRecorder,
    private readonly outcomes: ItemOutcomes,
  ) {
    this.now = deps.now ?? Date.now;
  }

  async run(active: ActiveItem, log: Logger): Promise<void> {
    const { db, config } = this.deps;
    const { item, signal } = active;
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
    const report = () => this.recorder.emit({ type: "progress", item, transfer: { ...state } });
    const early = new EarlyUpload(this.deps, active, state, report, this.now, log);
    let ticker: NodeJS.Timeout | undefined;
    try {
      state.waiting = await countQueued(db);
      this.recorder.emit({ type: "started", item, transfer: { ...state } });
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
        const result = await this.download(item, state, signal, log, report, early);
        if (result.kind === "done") {
          await this.recorder.settle(item, () => this.outcomes.done(item, result.summary, log), log);
          return;
        }
        if (result.kind === "choose") {
          await this.recorder.settle(item, () => this.outcomes.choosing(item, result.offer, log), log);
          return;
        }
        // Only the audio (/audio), and over the upload limit: parts (or a refusal), decided once and
        // recorded with the files.
        state.stage = { kind: "preparing-upload", ...(state.stage ? { after: state.stage } : {}) };
        report();
        // Parts already going up while the file downloaded are what goes up: decided once.
        let parts = early.partsFor(result.files);
        if (!parts) {
          await early.stop();
          parts = this.deps.prepare
            ? await this.deps.prepare(result.files, signal, item)
            : uploadParts(result.files, { limit: config.uploadLimitBytes, split: config.splitLargeFiles });
        }
        // Tried again when refused for a moment: the files are on disk, a retry would fetch them again.
        await this.recorder.persist(() => markDownloaded(db, item.id, parts, this.now()), log);
        log.info({ files: result.files.length, uploads: parts.length }, "download complete");
      }

      state.phase = "uploading";
      state.stage = undefined;
      early.downloaded();
      await early.finish();
      const uploaded = await deliver(this.deps, active, state, report, this.now);
      await this.recorder.settle(item, () => this.outcomes.delivered(item, uploaded, log), log);
    } catch (thrown) {
      // No part goes up once the attempt is over (a part whose bytes all went out gets its answer).
      await early.stop();
      // Once stopped (on purpose, or failed from outside by failActive), whatever the transfer
      // threw on its way out is not the reason.
      const error = signal.aborted && signal.reason instanceof AppError ? signal.reason : toAppError(thrown);
      if (error instanceof StopError) {
        await this.recorder.settle(item, () => this.outcomes.stopped(item, error, state, log), log);
      } else {
        await this.recorder.settle(item, () => this.outcomes.failed(item, error, log), log);
      }
    } finally {
      clearInterval(ticker);
    }
  }

  /**
   * Runs the item's handler, following hand-offs (a link that turned out to be a page, a torrent,
   * a stream or a site yt-dlp knows). A source that declined the item's URL is not given it again
   * while the URL stays; MAX_HOPS ends any other loop.
   */
  private async download(
    item: Item,
    state: TransferState,
    signal: AbortSignal,
    log: Logger,
    changed: () => void,
    early: EarlyUpload,
  ): Promise<{ kind: "files"; files: DeliverableFile[] } | { kind: "done"; summary: DoneSummary } | { kind: "choose"; offer: ChoiceOffer }> {
    const { db, config } = this.deps;
    const dir = await makeItemFolder(config.dataDir, item.id);
    // Asked once: a choice made (or the timeout's default) is not asked again.
    const asks =
      config.chooseTimeoutMs > 0 && item.choice === null
        ? ((await this.deps.askBefore?.(item.chatId)) ?? { files: true, quality: true, entries: true })
        : { files: false, quality: false, entries: false };
    // Only the audio wanted: there is no quality to pick; every file asked for: none to pick.
    if (item.wants.audioOnly) asks.quality = false;
    if (item.wants.allFiles) asks.files = false;
    let current = item;
    const declined = new Set<SourceKind>();
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      const source = this.deps.sources[current.sourceKind];
      if (!source) {
        throw new DownloadError("INTERNAL", `no handler for ${current.sourceKind} items`, {
          reason: { kind: "noHandler", sourceKind: current.sourceKind },
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
          state.stage = p.stage ?? early.stage;
          early.poke(p.bytesDone);
          changed();
        },
        growing: (file) => early.start(file, current),
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
          const open = await findOpenByUrl(db, item.chatId, url, item.wants);
          if (!open) return undefined;
          return { item: open, position: open.status === "queued" ? await queuePosition(db, open) : null };
        },
        notice: (notice) => this.recorder.emitAndWait({ type: "notice", item, notice }),
        ensureDiskRoom: (bytes) => this.deps.disk.assertRoom(bytes),
        declined,
        choice: current.choice,
        ask: asks,
      });
      if (result.kind !== "reroute") return result;
      log.info({ from: current.sourceKind, to: result.sourceKind }, "handing the item to another handler");
      if (result.url && result.url !== current.url) declined.clear();
      else if (result.declined) declined.add(current.sourceKind);
      const patch = { sourceKind: result.sourceKind, ...(result.url ? { url: result.url } : {}) };
      await updateItem(db, current.id, patch, this.now());
      current = { ...current, ...patch };
    }
    throw new DownloadError("INTERNAL", "too many hand-offs between handlers", { reason: { kind: "tooManyHandoffs" } });
  }

  private async assertDiskRoom(item: Item): Promise<void> {
    await this.deps.disk.assertRoom(item.sizeBytes === null ? 0 : Math.max(0, item.sizeBytes - item.bytesDone));
  }
}

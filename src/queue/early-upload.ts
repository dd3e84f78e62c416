import { clearItemFiles, recordPendingParts } from "../db/item-repository.ts";
import { toAppError } from "../errors.ts";
import type { DeliverableFile, Item, ItemFile } from "../items/item.ts";
import type { Logger } from "../logger.ts";
import type { GrowingFile, TransferStage } from "../sources/source.ts";
import { ANSWER_GRACE_MS, type ActiveItem } from "./active-item.ts";
import { deliver } from "./delivery.ts";
import type { TransferState } from "./events.ts";
import type { WorkerDeps } from "./worker-deps.ts";
import { settlesWithin } from "../util/async.ts";

/**
 * How long a batch's request may wait, at most about, for parts still downloading: well under the
 * minute that servers and proxies commonly allow between two reads of a request's body.
 */
const LEAD_MS = 20_000;

/**
 * Byte parts (or a big file as it came) that go up while the rest of their file downloads: a
 * part is a range of the file on disk, so part 1 can be in the chat long before the last byte
 * arrives. When the download announces the file it writes (`start`) and what goes up of it is
 * sure already (`planEarly`), that is recorded as pending and delivered in order, one batch (an
 * album of up to ten) at a time: a batch starts once what it lacks is due soon (`batchReady`), and
 * its request's body reads each byte once it is on disk. Telegram still gets one upload at a
 * time, in order.
 *
 * The worker stops this upload (`stop`) when the download fails or starts the file over; an upload
 * that fails here gives up the overlap only (what is not up goes up after the download). Until the download is
 * complete (`downloaded`), what goes up shows as "parts sent" in the item's progress; after it, as
 * the upload's own progress.
 */
export class EarlyUpload {
  /** Ends the running batch loop (a new one per start). */
  private stopped = new AbortController();
  private parts?: DeliverableFile[];
  private file?: GrowingFile;
  private running?: Promise<void>;
  private complete = false;
  /** Waits for the download's next bytes: a batch's gate, and the reads of its files' chunks. */
  private readonly waiters = new Set<() => void>();
  /** Telegram's answer to a batch whose bytes all went out: a stop waits for it (a little). */
  private answer?: Promise<void>;
  /** Where the upload's own progress goes until the download is complete. */
  private readonly own: TransferState;
  private live = false;
  /** The download's first and latest progress seen while a batch waited to start (ms, bytes). */
  private firstAt?: number;
  private firstBytes = 0;
  private lastAt = 0;
  private lastBytes = 0;
  private batchStarted = false;
  private sent?: Extract<TransferStage, { kind: "parts-sent" }>;

  constructor(
    private readonly deps: Pick<WorkerDeps, "db" | "upload" | "uploadGroup" | "planEarly">,
    private readonly active: ActiveItem,
    private readonly state: TransferState,
    private readonly changed: () => void,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {
    this.own = { ...state };
  }

  /** How many parts are up while the file downloads (the download's progress shows it). */
  get stage(): TransferStage | undefined {
    return this.live ? undefined : this.sent;
  }

  /** The download writes `file`: its byte parts go up as they arrive, if it goes up in byte parts. */
  async start(file: GrowingFile, item: Item): Promise<void> {
    if (this.running && !file.fresh && this.file?.path === file.path && this.file.size === file.size) {
      this.file = file;
      return;
    }
    // Written again from its first byte (the server's file changed, say): its parts start over.
    // An upload still reading the file as it was is stopped first.
    await this.stop();
    if (file.fresh) await clearItemFiles(this.deps.db, item.id);
    if (file.size === null) return;
    const parts = await this.deps.planEarly?.({ path: file.path, name: file.name, size: file.size }, item);
    if (!parts || parts.length === 0) return;
    await recordPendingParts(this.deps.db, item.id, parts);
    this.parts = parts;
    this.file = file;
    this.stopped = new AbortController();
    this.firstAt = undefined;
    const stopped = this.stopped;
    this.running = this.run().catch((error: unknown) => {
      // Stopped: by the worker (the download failed, or starts the file over) or with the item.
      if (stopped.signal.aborted || this.active.signal.aborted) return;
      // What did not go up goes up once the file is whole, as any upload does (its errors then
      // are the attempt's): a failure here costs only the overlap.
      this.log.warn({ err: toAppError(error).message }, "a part could not go up while the file downloaded; the rest goes up once it is whole");
    });
  }

  /** The download got to `bytesDone`: a batch waiting for its bytes looks again. */
  poke(bytesDone?: number): void {
    // Sampled only while a batch waits to start: the speed is what decides it (see batchReady).
    if (bytesDone !== undefined && this.waiters.size > 0 && !this.batchStarted) {
      const at = this.now();
      if (this.firstAt === undefined) [this.firstAt, this.firstBytes] = [at, bytesDone];
      [this.lastAt, this.lastBytes] = [at, bytesDone];
    }
    for (const wake of this.waiters) wake();
  }

  /** Whether the download's files are the one whose parts this upload sends: then these are what goes up. */
  partsFor(files: readonly DeliverableFile[]): DeliverableFile[] | undefined {
    const file = this.file;
    if (!this.running || !this.parts || !file || files.length !== 1) return undefined;
    const [only] = files;
    return only!.path === file.path && only!.size === file.size && (only!.offset ?? 0) === 0 ? this.parts : undefined;
  }

  /** The whole file is on disk: the rest goes up as the item's upload (its progress in view). */
  downloaded(): void {
    this.complete = true;
    if (!this.running) return;
    this.live = true;
    this.showOwn();
    this.poke();
  }

  /** The item's progress shows this upload's own. */
  private showOwn(): void {
    this.state.bytesDone = this.own.bytesDone;
    this.state.totalBytes = this.own.totalBytes;
    this.state.stage = this.own.stage;
  }

  /** Waits until the parts went up (or their early upload gave up: the item's delivery sends the rest). */
  async finish(): Promise<void> {
    await this.running;
  }

  /** Ends the early upload (the download failed or stopped): a batch whose bytes all went out gets its answer first. */
  async stop(): Promise<void> {
    if (!this.running) return;
    if (this.answer) await settlesWithin(this.answer, ANSWER_GRACE_MS);
    this.stopped.abort();
    this.poke();
    await this.running;
    this.running = undefined;
  }

  private async run(): Promise<void> {
    const signal = AbortSignal.any([this.active.signal, this.stopped.signal]);
    const view = {
      item: this.active.item,
      signal,
      awaitingAnswer: (answer: Promise<void>) => {
        this.answer = answer;
        this.active.awaitingAnswer(answer);
      },
      answered: () => {
        this.answer = undefined;
        this.active.answered();
      },
    };
    const changed = () => {
      if (!this.live) return;
      this.showOwn();
      this.changed();
    };
    await deliver(this.deps, view, this.own, changed, this.now, {
      batchReady: (files) => this.batchReady(files, signal),
      ready: (from, to) => this.bytesReady(from, to, signal),
      sent: (files, of) => {
        this.sent = { kind: "parts-sent", sent: files, of };
        if (this.live) return;
        this.state.stage = this.sent;
        this.changed();
      },
    });
  }

  /**
   * A batch starts once what it lacks is due within LEAD_MS at the download's speed so far (or
   * is there): its request's body then reads each byte (see `bytesReady`) about when it arrives,
   * instead of idling for minutes on a slow download.
   */
  private async batchReady(files: readonly ItemFile[], signal: AbortSignal): Promise<void> {
    const first = files[0]!;
    const last = files.at(-1)!;
    this.batchStarted = false;
    await this.until(signal, () => {
      const missing = this.file!.missing(first.offset, last.offset + last.sizeBytes);
      return missing === 0 || missing / this.speed() <= LEAD_MS;
    });
    this.batchStarted = true;
  }

  /** Resolves once bytes [from, to) are on disk; rejects when the upload is stopped meanwhile. */
  private bytesReady(from: number, to: number, signal: AbortSignal): Promise<void> {
    return this.until(signal, () => this.file!.missing(from, to) === 0);
  }

  /** Bytes a millisecond the download wrote while a batch waited (0 until it wrote some). */
  private speed(): number {
    return this.firstAt !== undefined && this.lastAt > this.firstAt ? (this.lastBytes - this.firstBytes) / (this.lastAt - this.firstAt) : 0;
  }

  private async until(signal: AbortSignal, ok: () => boolean): Promise<void> {
    if ((this.complete || ok()) && !signal.aborted) return;
    // One listener for the whole wait: the download pokes on every chunk.
    let wake = () => {};
    const onAbort = () => wake();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      while (!this.complete && !signal.aborted && !ok()) {
        await new Promise<void>((resolve) => {
          this.waiters.delete(wake);
          wake = resolve;
          this.waiters.add(wake);
        });
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.waiters.delete(wake);
    }
    if (signal.aborted) throw signal.reason ?? new Error("stopped");
  }
}

import type { Api } from "grammy";
import type { Db } from "../db/database.ts";
import type { ErrorReason } from "../errors.ts";
import { findItem, listItemFiles } from "../db/item-repository.ts";
import { listLiveMessages, recordItemMessage } from "../db/message-repository.ts";
import type { ChoiceOffer } from "../items/choice.ts";
import type { Item } from "../items/item.ts";
import type { DoneSummary, SourceNotice } from "../sources/source.ts";
import type { Logger } from "../logger.ts";
import type { QueueEvents, StopReason, TransferState } from "../queue/events.ts";
import type { ChoiceQuestions } from "./choice-questions.ts";
import { replyTo } from "./create-bot.ts";
import { progressKeyboard } from "./keyboards.ts";
import { FinalLines, type Outcome } from "./final-lines.ts";
import { LiveMessages } from "./live-messages.ts";
import type { MessageEditor } from "./message-editor.ts";
import type { TransientNotices } from "./notices.ts";
import {
  SpeedMeter,
  renderCancelled,
  renderDelivered,
  renderDone,
  renderFailed,
  renderProgress,
  renderRetrying,
} from "./views/progress-view.ts";
import { doneLine } from "./views/done-view.ts";
import { describeLastError, describeReason } from "./views/error-view.ts";
import { renderNotice } from "./views/notice-view.ts";
import { stageLines } from "./views/stage-view.ts";
import { restartedView, resumedView, stoppedView } from "./views/waiting-views.ts";

export interface ChatReporterDeps {
  api: Api;
  db: Db;
  editor: MessageEditor;
  notices: TransientNotices;
  logger: Logger;
  /**
   * The chats whose /resume resumes the whole queue (config `adminChatIds`): only their live
   * messages offer "Resume the queue". Default: every chat.
   */
  adminChatIds?: readonly number[];
  /** The questions of items that wait for a choice. */
  questions: ChoiceQuestions;
  now?: () => number;
}

/** Remembers what a reply of the bot is about (the "Queued #4" acknowledgement, say). */
export interface Acknowledger {
  /**
   * `message` speaks about `itemIds` (a reply to it then names them); `transient` ones are
   * deleted after a while. Resolves once the record is stored.
   */
  acknowledged(message: { chat: { id: number }; message_id: number }, itemIds: readonly number[], transient: boolean): Promise<void>;
  /** The acknowledgement is about this one new item alone: it may become its live message. */
  offer(chatId: number, messageId: number, itemId: number): void;
  /** The item's request is answered by a message it cannot have (it names several items). */
  decline(itemId: number): void;
  /** The message that shows the item's progress, if it has one. */
  liveMessageOf(itemId: number): Promise<number | undefined>;
}

/** The running item's live message. */
interface Live {
  startedAt: number;
  /** Why the attempt before this one failed: shown while this one runs. */
  previous?: string;
  /** Settles with the progress message's id once it exists (undefined if it could not be sent). */
  ready: Promise<number | undefined>;
  messageId?: number;
  state: TransferState;
  meter: SpeedMeter;
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * The queue as the chat sees it: one live progress message per running item (sent when it starts,
 * edited through the MessageEditor, with Pause/Resume and Cancel buttons), its final line, failure
 * notes, and the record of which bot message is about which item (so a reply with /cancel or
 * /retry finds it). Final lines of delivered and cancelled items are deleted after a while;
 * failures stay. Nothing here holds up the queue: every report returns at once.
 */
export class ChatReporter implements Acknowledger {
  private readonly live = new Map<number, Live>();
  private readonly now: () => number;
  /** Where each chat's live message sits. */
  private readonly messages: LiveMessages;
  /** The final lines being sent. */
  private readonly lines: FinalLines;
  private readonly questions: ChoiceQuestions;

  constructor(private readonly deps: ChatReporterDeps) {
    this.now = deps.now ?? Date.now;
    this.messages = new LiveMessages({ ...deps, now: this.now });
    this.lines = new FinalLines({ ...deps, now: this.now, messages: this.messages });
    this.questions = deps.questions;
  }

  /**
   * Presents the queue's events in the chats: each event type to the view that shows it. Returns
   * the unsubscribe.
   */
  attach(events: QueueEvents): () => void {
    return events.onAny((e) => {
      switch (e.type) {
        case "started":
          return this.started(e.item, e.transfer);
        case "progress":
          return this.progress(e.item, e.transfer);
        case "notice": {
          // Returned as well as tracked: the source waits for it, so it lands before the files.
          const sent = this.notice(e.item, e.notice).catch((error: unknown) =>
            this.deps.logger.warn({ itemId: e.item.id, err: errorText(error) }, "could not send a notice"),
          );
          this.lines.track(sent);
          return sent;
        }
        case "retrying":
          return this.retrying(e.item, e);
        case "delivered":
          return this.delivered(e.item, e);
        case "done":
          return this.done(e.item, e.summary);
        case "failed":
          return this.failed(e.item, e.error.reason);
        case "stopped":
          if (e.reason === "cancel") this.lines.track(this.questions.cancelled(e.item));
          return this.stopped(e.item, e);
        case "resumed":
          return this.resumed(e.item, e);
        case "choosing":
          return this.choosing(e.item, e.offer);
        case "chosen":
          return this.lines.track(this.questions.answered(e.item, e.choice, e.timedOut));
        case "recovered":
          return this.recover(e);
      }
    });
  }

  /** Waits (up to `timeoutMs`) for the final lines still being sent (shutdown). */
  drain = (timeoutMs: number): Promise<void> => this.lines.drain(timeoutMs);

  /** Whether the chat's /resume resumes the whole queue. */
  private isAdmin(chatId: number): boolean {
    return this.deps.adminChatIds?.includes(chatId) ?? true;
  }

  /** Whether anything is kept for the chat (only allowed chats ever are). */
  tracksChat(chatId: number): boolean {
    return this.messages.tracksChat(chatId);
  }

  /** A message went into a chat (anyone's): the live message may now be out of sight. */
  observe(chatId: number, messageId: number): void {
    this.messages.observe(chatId, messageId);
  }

  offer(chatId: number, messageId: number, itemId: number): void {
    this.messages.offer(chatId, messageId, itemId);
  }

  decline(itemId: number): void {
    this.messages.decline(itemId);
  }

  liveMessageOf(itemId: number): Promise<number | undefined> {
    return this.messages.liveMessageOf(itemId);
  }

  started(item: Item, state: TransferState): void {
    const live: Live = { startedAt: this.now(), ready: Promise.resolve(undefined), state, meter: new SpeedMeter() };
    // The claim already counted the attempt that starts now: the one before it is state.attempt - 1.
    if (state.attempt > 1 && item.lastError) live.previous = `attempt ${state.attempt - 1} of ${state.attempts} failed: ${describeReason(item.lastError)}`;
    // The transfer does not wait for its progress message: under a flood limit, sending it can
    // take retry_after seconds. Edits start once it exists; the endings wait for it.
    const first = { text: renderProgress({ ...state, ...stageLines(state.stage), itemId: item.id, speed: null }), markup: progressKeyboard(item.id, { paused: false }) };
    live.ready = this.messages.place(item, first).then(
      (id) => (live.messageId = id),
      (error: unknown) => {
        this.deps.logger.warn({ itemId: item.id, err: error instanceof Error ? error.message : String(error) }, "could not show the progress message");
        return undefined;
      },
    );
    this.live.set(item.id, live);
  }

  progress(item: Item, state: TransferState): void {
    const live = this.live.get(item.id);
    if (!live) return;
    if (state.phase !== live.state.phase) live.meter = new SpeedMeter();
    live.state = state;
    live.meter.add(this.now(), state.bytesDone);
    const messageId = live.messageId;
    if (messageId === undefined || this.deps.editor.hasPending(item.chatId, messageId)) return;
    // Rendered when the edit goes out, so Telegram gets the newest state.
    void this.deps.editor.edit(item.chatId, messageId, () => {
      const stage = stageLines(live.state.stage);
      return {
        text: renderProgress({
          ...live.state,
          ...stage,
          itemId: item.id,
          speed: live.meter.speed(),
          elapsedMs: this.now() - live.startedAt,
          details: [...(stage.details ?? []), ...(live.previous ? [live.previous] : [])],
        }),
        markup: progressKeyboard(item.id, { paused: false }),
      };
    });
  }

  async notice(item: Item, notice: SourceNotice): Promise<void> {
    await this.deps.api.sendMessage(item.chatId, renderNotice(notice), replyTo(item.requestMessageId));
  }

  retrying(item: Item, failure: { error: { reason: ErrorReason }; attempt: number; attempts: number; delayMs: number }): void {
    this.afterRun(item, (messageId) => {
      if (messageId === undefined) return;
      const text = renderRetrying(item.title, describeReason(failure.error.reason), failure.attempt, failure.attempts, failure.delayMs);
      void this.deps.editor.edit(item.chatId, messageId, { text, markup: progressKeyboard(item.id, { paused: false }) });
    });
  }

  delivered(item: Item, result: { bytes: number; files: number }): void {
    this.afterRun(item, (messageId) => {
      if (messageId !== undefined) this.messages.release(item, messageId);
      this.lines.finish(item, messageId, renderDelivered(item.title, result.bytes, result.files), "delivered");
    });
  }

  done(item: Item, summary: DoneSummary): void {
    // The one answer about a page (what it queued, what it skipped): a reply that notifies and
    // stays, in place of the live message, which would only say the same again.
    this.replace(item, renderDone(item.title, doneLine(summary), item.sourceKind === "crawler" ? "page" : "item"), "done");
  }

  failed(item: Item, reason: ErrorReason | null): void {
    this.replace(item, renderFailed(item.title, describeLastError(reason, "the download failed.")), "failed");
  }

  /** The item waits for a choice: the question replaces its live message (the next item needs the chat's). */
  private choosing(item: Item, offer: ChoiceOffer): void {
    this.afterRun(item, (messageId) => this.lines.track(this.questions.ask(item, offer, messageId, (id) => this.messages.retire(item.chatId, id))));
  }

  /** The item's last word as a message of its own that stays, once its run let go of its message. */
  private replace(item: Item, text: string, outcome: Outcome): void {
    this.afterRun(item, (messageId) => this.lines.replace(item, messageId, text, outcome));
  }

  stopped(item: Item, stop: { reason: StopReason; wasRunning: boolean; waiting: number }): void {
    if (stop.reason === "shutdown") {
      this.live.delete(item.id);
      return;
    }
    const show = (messageId: number | undefined) => {
      if (stop.reason === "cancel") {
        const text = renderCancelled(item.title);
        // A waiting item without a progress message has nothing to show it on.
        if (messageId !== undefined || stop.wasRunning) this.lines.finish(item, messageId, text, "cancelled");
        return;
      }
      if (messageId === undefined) return;
      const paused = stop.reason === "pause";
      const view = stoppedView(item, { ...stop, reason: paused ? "pause" : "hold" }, this.isAdmin(item.chatId));
      const markup = progressKeyboard(item.id, { paused, queuePaused: stop.reason === "hold" && this.isAdmin(item.chatId) });
      void this.deps.editor.edit(item.chatId, messageId, { text: renderProgress(view), markup });
    };
    if (stop.wasRunning) this.afterRun(item, show);
    else this.lines.track(this.messages.ownMessage(item).then(show));
  }

  /**
   * At start: each message a previous process left live, brought up to date (items `settled`
   * at start were announced on their own). Resolves once done, before anything runs.
   */
  async recover(where: { queuePaused: boolean; waiting: number; settled: readonly number[] }): Promise<void> {
    for (const { itemId, messageId } of await listLiveMessages(this.deps.db)) {
      if (where.settled.includes(itemId)) continue;
      const item = await findItem(this.deps.db, itemId);
      if (item) this.restored(item, where, messageId);
    }
  }

  /**
   * An item as a previous process left it, with its live message (it was interrupted, or it
   * ended just before the process did and the chat may not have been told).
   */
  private restored(item: Item, where: { queuePaused: boolean; waiting: number }, messageId: number): void {
    switch (item.status) {
      case "queued": {
        // A retry's wait is still what the message says; anything else was cut off mid-run.
        if (item.attempts > 0 && item.nextAttemptAt > this.now()) return;
        const text = renderProgress(restartedView(item, where, this.isAdmin(item.chatId)));
        const markup = progressKeyboard(item.id, { paused: false, queuePaused: where.queuePaused && this.isAdmin(item.chatId) });
        void this.deps.editor.edit(item.chatId, messageId, { text, markup });
        return;
      }
      case "completed":
        // It ended just before the last process did: the chat may never have been told.
        this.lines.track(
          listItemFiles(this.deps.db, item.id).then((files) => {
            const bytes = files.reduce((sum, f) => sum + f.sizeBytes, 0);
            const text = files.length ? renderDelivered(item.title, bytes, files.length) : renderDone(item.title, "done", "item");
            this.lines.finish(item, messageId, text, files.length ? "delivered" : "done");
          }),
        );
        return;
      case "failed":
        this.failed(item, item.lastError);
        return;
      case "cancelled":
        this.lines.finish(item, messageId, renderCancelled(item.title), "cancelled");
        return;
      default:
        // Paused: the message says so already.
        return;
    }
  }

  resumed(item: Item, where: { position: number; queuePaused: boolean; waiting: number }): void {
    this.lines.track(
      this.messages.ownMessage(item).then((messageId) => {
        if (messageId === undefined) return;
        const text = renderProgress(resumedView(item, where, this.isAdmin(item.chatId)));
        void this.deps.editor.edit(item.chatId, messageId, { text, markup: progressKeyboard(item.id, { paused: false }) });
      }),
    );
  }

  async acknowledged(message: { chat: { id: number }; message_id: number }, itemIds: readonly number[], transient: boolean): Promise<void> {
    if (transient) this.deps.notices.schedule(message.chat.id, message.message_id);
    await recordItemMessage(this.deps.db, message.chat.id, message.message_id, itemIds, this.now()).catch((error: unknown) =>
      this.deps.logger.warn({ err: errorText(error) }, "could not record a message"),
    );
  }

  // --- internals --------------------------------------------------------------------------------

  /** Runs `then` with the progress message of an item whose run just ended, once it exists. */
  private afterRun(item: Item, then: (messageId: number | undefined) => void): void {
    const live = this.live.get(item.id);
    this.live.delete(item.id);
    if (!live) return this.lines.track(this.messages.liveMessageOf(item.id).then(then));
    this.lines.track(live.ready.then(() => then(live.messageId)));
  }
}

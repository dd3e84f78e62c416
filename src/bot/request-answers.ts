import type { Api } from "grammy";
import type { NewRequest, RequestOutcome, RequestQueue, StoredRequest, Submitted } from "../intake/request-queue.ts";
import type { Logger } from "../logger.ts";
import { escapeHtml, truncate } from "../text/format.ts";
import { settlesWithin } from "../util/async.ts";
import type { Acknowledger } from "./chat-reporter.ts";
import { replyTo } from "./create-bot.ts";
import { downloadAgainKeyboard } from "./keyboards.ts";
import type { MessageEditor } from "./message-editor.ts";
import type { TaskRunner } from "./task-runner.ts";
import { describeOutcome, itemIds, joinReply } from "./views/intake-view.ts";

export interface RequestAnswersDeps {
  api: Api;
  requests: Pick<RequestQueue, "submit">;
  editor: MessageEditor;
  acks: Acknowledger;
  tasks: TaskRunner;
  logger: Logger;
  /** Whether the whole queue is paused (then nothing starts at once). */
  queuePaused?: () => boolean;
  /** How long the checks may take for the answer to come as one message. Default 1.5 s. */
  quickAnswerMs?: number;
}

/** One thing a person asked for in a message, with the name to show it by. */
export interface Ask {
  request: Omit<NewRequest, "chatId" | "userId" | "requestMessageId">;
  /** How the answer names it: the link, or a sent file's name. */
  label: string;
}

export interface AskOptions {
  chatId: number;
  userId: number | null;
  requestMessageId: number | null;
  /** Lines about what could not be read in the message (already HTML). */
  problems?: string[];
  /** A usage line added when there were problems. */
  usage?: string;
}

/**
 * Takes what a message asks for into the queue and answers it. The requests are stored first
 * (nothing is lost if the process dies while a slow server answers the pre-check), then the
 * command's turn ends, so the chat's next commands do not wait for the checks. The answer is one
 * message: sent once every check is done when they are quick, or sent at once as "checking…"
 * and edited into the outcome when they are not.
 */
export class RequestAnswers {
  constructor(private readonly deps: RequestAnswersDeps) {}

  /** Stores the asks and answers in the background; resolves once they are stored (or refused). */
  async ask(asks: readonly Ask[], options: AskOptions): Promise<void> {
    let submitted: Submitted[];
    try {
      submitted = await this.deps.requests.submit(
        asks.map((a) => ({ ...a.request, chatId: options.chatId, userId: options.userId, requestMessageId: options.requestMessageId })),
      );
    } catch (error) {
      this.deps.logger.error({ err: error instanceof Error ? error.message : String(error) }, "could not store a request");
      await this.deps.api.sendMessage(options.chatId, storeFailedLine(error), replyTo(options.requestMessageId));
      return;
    }
    const entries = submitted.map((s, i) => ({ ...s, label: asks[i]!.label }));
    this.deps.tasks.run("answer a request", () => this.answer(entries, options));
  }

  /** The outcome of a request a previous process stored: a reply of its own. */
  async recovered(request: StoredRequest, outcome: RequestOutcome): Promise<void> {
    const label = request.kind === "document" ? "the .torrent file" : request.text;
    const message = await this.deps.api.sendMessage(request.chatId, describeOutcome(outcome, label), replyTo(request.requestMessageId));
    await this.deps.acks.acknowledged(message, itemIds([outcome]), outcome.status !== "refused");
    if (outcome.status === "queued") this.deps.acks.offer(request.chatId, message.message_id, outcome.item.id);
  }

  private async answer(entries: Array<Submitted & { label: string }>, options: AskOptions): Promise<void> {
    const { api, editor } = this.deps;
    const settled = new Map<number, RequestOutcome>();
    const all = Promise.all(entries.map((e, i) => e.outcome.then((o) => void settled.set(i, o))));
    const quick = await settlesWithin(all, this.deps.quickAnswerMs ?? 1500);
    // Settled in time by failing: that error is the answer's, as it was before the wait.
    if (quick) await all;
    const problems = options.problems ?? [];
    const extra = problems.length && options.usage ? [options.usage] : [];

    if (quick) {
      const outcomes = entries.map((_, i) => settled.get(i)!);
      const lines = [...problems, ...outcomes.map((o, i) => describeOutcome(o, entries[i]!.label)), ...extra];
      // A lone duplicate answers on the existing item's progress message: that is where it is.
      const only = outcomes.length === 1 && problems.length === 0 ? outcomes[0] : undefined;
      const live = only?.status === "duplicate" ? await this.deps.acks.liveMessageOf(only.item.id) : undefined;
      const pointAt = live ?? options.requestMessageId;
      const markup = againKeyboard(outcomes);
      const message = await api.sendMessage(options.chatId, joinReply(lines), { ...replyTo(pointAt), ...(markup ? { reply_markup: markup } : {}) });
      await this.deps.acks.acknowledged(message, itemIds(outcomes), transient(problems, outcomes));
      // The answer about one new item may become its live message when it starts at once.
      if (only?.status === "queued" && only.position === 1 && !this.deps.queuePaused?.()) {
        this.deps.acks.offer(options.chatId, message.message_id, only.item.id);
      }
      else for (const id of itemIds(outcomes)) this.deps.acks.decline(id);
      return;
    }

    const checking = entries.map((e, i) => {
      const done = settled.get(i);
      return done ? describeOutcome(done, e.label) : `⏳ ${escapeHtml(truncate(e.label, 80))}: checking…`;
    });
    const message = await api.sendMessage(options.chatId, joinReply([...problems, ...checking, ...extra]), replyTo(options.requestMessageId));
    editor.track(options.chatId, message.message_id, joinReply([...problems, ...checking, ...extra]));
    // This answer is about several things at once: no item's live message.
    for (const entry of entries) void entry.outcome.then((o) => itemIds([o]).forEach((id) => this.deps.acks.decline(id)));
    await all;
    const outcomes = entries.map((_, i) => settled.get(i)!);
    const lines = [...problems, ...outcomes.map((o, i) => describeOutcome(o, entries[i]!.label)), ...extra];
    const markup = againKeyboard(outcomes);
    await editor.edit(options.chatId, message.message_id, { text: joinReply(lines), ...(markup ? { markup } : {}) });
    editor.forget(options.chatId, message.message_id);
    await this.deps.acks.acknowledged(message, itemIds(outcomes), transient(problems, outcomes));
  }
}

/** "Download again" buttons for what was re-sent instead of downloaded. */
function againKeyboard(outcomes: readonly RequestOutcome[]) {
  return downloadAgainKeyboard(outcomes.flatMap((o) => (o.status === "redelivered" ? [o.item.id] : [])));
}

/** An answer holding only acknowledgements may go after a while; one with a refusal stays. */
function transient(problems: readonly string[], outcomes: readonly RequestOutcome[]): boolean {
  return problems.length === 0 && outcomes.every((o) => o.status !== "refused");
}

function storeFailedLine(error: unknown): string {
  const code = (error as { code?: string } | null)?.code;
  if (code === "SQLITE_FULL" || code === "ENOSPC") {
    return "✗ The bot's disk is full, so it could not take this request: free some space on the server and send it again.";
  }
  return "✗ The bot could not store this request (its database refused it): send it again in a moment.";
}

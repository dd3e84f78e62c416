import { Composer, type Context, GrammyError } from "grammy";
import { type Item, isFinished, isRetryable } from "../../items/item.ts";
import type { Logger } from "../../logger.ts";
import type { ControlOutcome, QueueControl } from "../../queue/queue-control.ts";
import { escapeHtml, truncate } from "../../text/format.ts";
import { replyTo } from "../create-bot.ts";
import { type CallbackAction, CALLBACK_PREFIX, decodeCallback, pagerKeyboard } from "../keyboards.ts";
import type { RequestAnswers } from "../request-answers.ts";
import type { Acknowledger } from "../chat-reporter.ts";
import { PAGE_SIZE, type Page, parseItemId, parsePriority, renderHistoryPage, renderQueuePage, renderStatus } from "../views/queue-view.ts";

export interface QueueControlFeatureDeps {
  control: QueueControl;
  /** For "Download again": the URL goes through intake like a `/download!`. */
  answers: RequestAnswers;
  /** Remembers which reply is about which item, and lets acknowledgements go after a while. */
  acks: Acknowledger;
  logger: Logger;
}

/** The short answers a button press gets (shown by Telegram as a toast). */
export const ANSWERS = {
  paused: "Paused",
  resumed: "Resumed",
  cancelled: "Cancelled",
  finished: "Already finished",
  notAllowed: "Not allowed",
  alreadyPaused: "Already paused",
  notPaused: "Not paused",
  busy: "Busy, try again",
  again: "Downloading again",
  queueResumed: "The queue runs again",
  queueNotPaused: "The queue is not paused",
  adminOnly: "Only the admin chat resumes the whole queue",
  stale: "This button no longer works",
  failed: "Something went wrong",
} as const;

type ItemCommand = "cancel" | "retry" | "pause" | "resume" | "priority";

/** "#3, #4 and #7" (at most ten named). */
function idList(items: readonly Item[]): string {
  const ids = items.slice(0, 10).map((i) => `#${i.id}`);
  const more = items.length > 10 ? [`${items.length - 10} more`] : [];
  const all = [...ids, ...more];
  return all.length === 1 ? all[0]! : `${all.slice(0, -1).join(", ")} and ${all.at(-1)}`;
}

const name = (item: Item) => `#${item.id} <b>${escapeHtml(truncate(item.title, 120))}</b>`;

/**
 * The progress message's buttons and the queue commands: /queue /status /history, /cancel /retry
 * /pause /resume /priority. Item ids are the short numbers shown everywhere (#12); replying to a
 * bot message about an item with /cancel or /retry needs no id at all.
 */
export function queueControlFeature(deps: QueueControlFeatureDeps): Composer<Context> {
  const { control, logger } = deps;
  const composer = new Composer<Context>();

  async function queuePage(chatId: number, page: number): Promise<Page> {
    const { entries, queuePaused, now } = await control.queue();
    return renderQueuePage(entries, { chatId, page, now, queuePaused, admin: control.isAdmin(chatId) });
  }

  async function historyPage(chatId: number, page: number): Promise<Page> {
    const history = await control.history(chatId, page, PAGE_SIZE);
    return renderHistoryPage(history.items, history);
  }

  /** An acknowledgement: a reply that is deleted after a while and names the items it is about. */
  async function notice(ctx: Context, text: string, items: readonly Item[] = []): Promise<void> {
    const message = await ctx.reply(text, replyTo(ctx.msg?.message_id));
    await deps.acks.acknowledged(message, items.map((i) => i.id), true);
  }

  // --- listings -------------------------------------------------------------------------------

  composer.command("queue", async (ctx) => {
    const page = Math.max(1, Number.parseInt(ctx.match.trim(), 10) || 1) - 1;
    const view = await queuePage(ctx.chat.id, page);
    await ctx.reply(view.text, { reply_markup: pagerKeyboard("queuePage", view.page, view.pages) });
  });

  composer.command("history", async (ctx) => {
    const page = Math.max(1, Number.parseInt(ctx.match.trim(), 10) || 1) - 1;
    const view = await historyPage(ctx.chat.id, page);
    await ctx.reply(view.text, { reply_markup: pagerKeyboard("historyPage", view.page, view.pages) });
  });

  composer.command("status", async (ctx) => {
    await ctx.reply(renderStatus(await control.status(ctx.chat.id)));
  });

  // --- the whole queue, or one item -----------------------------------------------------------

  // From an admin chat, the whole queue; from any other, that chat's own items (see QueueControl).
  composer.command("pause", async (ctx) => {
    if (ctx.match.trim()) return itemCommand(ctx, "pause", ctx.match);
    const outcome = await control.pauseFor(ctx.chat.id);
    if (outcome.scope === "queue") {
      const { changed, heldItemId } = outcome;
      await notice(
        ctx,
        !changed
          ? "⏸ The queue is already paused. /resume continues."
          : heldItemId !== undefined
            ? `⏸ The queue is paused: #${heldItemId} stopped and keeps what it downloaded. Nothing starts until /resume.`
            : "⏸ The queue is paused: nothing starts until /resume.",
      );
      return;
    }
    if (outcome.paused.length === 0) {
      await notice(ctx, "⏸ Nothing of this chat is running or waiting. (/pause here pauses this chat's downloads; only the admin chat pauses the whole queue.)");
      return;
    }
    const stopped = outcome.stoppedItemId !== undefined ? `; #${outcome.stoppedItemId} stopped and keeps what it downloaded` : "";
    await notice(
      ctx,
      `⏸ Paused this chat's downloads: ${idList(outcome.paused)}${stopped}. Other chats' downloads go on; /resume continues these.`,
      outcome.paused,
    );
  });

  composer.command("resume", async (ctx) => {
    if (ctx.match.trim()) return itemCommand(ctx, "resume", ctx.match);
    const outcome = await control.resumeFor(ctx.chat.id);
    if (outcome.scope === "queue") {
      await notice(ctx, outcome.changed ? "▶️ The queue runs again." : "▶️ The queue is not paused.");
      return;
    }
    if (outcome.resumed.length === 0) {
      await notice(ctx, "▶️ Nothing of this chat is paused.");
      return;
    }
    const held = control.queuePaused ? " The whole queue is paused by the admin chat: they start once it resumes." : "";
    await notice(ctx, `▶️ Resumed this chat's downloads: ${idList(outcome.resumed)}.${held}`, outcome.resumed);
  });

  composer.command("cancel", (ctx) => itemCommand(ctx, "cancel", ctx.match));
  composer.command("retry", (ctx) => itemCommand(ctx, "retry", ctx.match));
  composer.command("priority", (ctx) => itemCommand(ctx, "priority", ctx.match));

  async function itemCommand(ctx: Context & { chat: NonNullable<Context["chat"]> }, command: ItemCommand, args: string): Promise<void> {
    const tokens = args.trim().split(/\s+/).filter(Boolean);
    const explicit = tokens[0] !== undefined ? parseItemId(tokens[0]) : null;
    if (explicit !== null) tokens.shift();
    let level = null;
    if (command === "priority") {
      level = tokens[0] !== undefined ? parsePriority(tokens[0]) : null;
      if (!level) return notice(ctx, "Usage: <code>/priority 12 high</code> (or <code>normal</code>, <code>low</code>); higher priority items start first.");
    } else if (tokens.length > 0) {
      return notice(ctx, `Usage: <code>/${command} 12</code>, or reply <code>/${command}</code> to a message about the download.`);
    }
    const target = explicit ?? (await fromReply(ctx, command));
    if (typeof target === "string") return notice(ctx, target);

    const outcome =
      command === "cancel"
        ? await control.cancel(target, ctx.chat.id)
        : command === "retry"
          ? await control.retry(target, ctx.chat.id)
          : command === "pause"
            ? await control.pause(target, ctx.chat.id)
            : command === "resume"
              ? await control.resume(target, ctx.chat.id)
              : await control.prioritise(target, ctx.chat.id, level!);
    await notice(ctx, await describeControl(outcome, target), outcome.item ? [outcome.item] : []);
  }

  /** The item a command replying to a bot message is about, or what to tell the person. */
  async function fromReply(ctx: Context & { chat: NonNullable<Context["chat"]> }, command: ItemCommand): Promise<number | string> {
    const usage = `Which download? Send <code>/${command} 12</code> with its number (see /queue), or reply <code>/${command}</code> to a message about it.`;
    const replied = ctx.msg?.reply_to_message;
    if (!replied) return usage;
    const items = await control.itemsForMessage(ctx.chat.id, replied.message_id);
    if (items.length === 0) return `That message is not about a download. ${usage}`;
    if (items.length === 1) return items[0]!.id;
    // A reply about several items: take the one the command can act on, if only one fits.
    const fits = items.filter((i) => (command === "retry" ? isRetryable(i.status) : !isFinished(i.status)));
    if (fits.length === 1) return fits[0]!.id;
    const ids = (fits.length ? fits : items).map((i) => `#${i.id}`).join(", ");
    return `That message is about several downloads (${ids}): say which, e.g. <code>/${command} ${(fits[0] ?? items[0])!.id}</code>.`;
  }

  async function describeControl(outcome: ControlOutcome, id: number): Promise<string> {
    if (!outcome.ok) {
      const item = outcome.item;
      switch (outcome.why) {
        case "not-found":
          return `There is no #${id} in this chat.`;
        case "finished":
          return `${name(item!)} already finished (${item!.status === "completed" ? "delivered" : item!.status}).`;
        case "already-paused":
          return `${name(item!)} is already paused.`;
        case "not-paused":
          return `${name(item!)} is not paused.`;
        case "in-queue":
          return outcome.open && outcome.open.id !== item!.id
            ? `The same link is already in the queue as ${name(outcome.open)}.`
            : `${name(item!)} is already in the queue.`;
        case "delivered":
          return `${name(item!)} was delivered. To download it again, send <code>/download! ${escapeHtml(truncate(item!.url, 300))}</code>.`;
        case "busy":
          return `#${id} is changing state right now; try again in a moment.`;
      }
    }
    const item = outcome.item;
    switch (outcome.did) {
      case "paused":
        return `⏸ Paused ${name(item)}: it keeps what it downloaded.`;
      case "resumed":
        return `▶️ Resumed ${name(item)}: position ${await control.position(item)} in the queue.`;
      case "cancelled":
        return `✖️ Cancelled ${name(item)}.`;
      case "requeued":
      case "retry-now":
        return `🔁 ${name(item)} is back in the queue: position ${await control.position(item)}.`;
      case "priority": {
        const where = item.status === "queued" ? `: position ${await control.position(item)} in the queue` : "";
        const level = item.priority > 0 ? "high" : item.priority < 0 ? "low" : "normal";
        return `${name(item)} now has ${level} priority${where}.`;
      }
    }
  }

  // --- buttons ----------------------------------------------------------------------------------

  composer.callbackQuery(new RegExp(`^${CALLBACK_PREFIX}`), async (ctx) => {
    let answer: string | undefined;
    try {
      answer = await press(ctx, decodeCallback(ctx.callbackQuery.data));
    } catch (error) {
      logger.error({ err: error instanceof Error ? error.message : String(error), data: ctx.callbackQuery.data }, "button press failed");
      answer = ANSWERS.failed;
    } finally {
      // Every press gets an answer, or the button keeps spinning in the person's app.
      await ctx.answerCallbackQuery(answer ? { text: answer } : undefined).catch((error: unknown) =>
        logger.warn({ err: error instanceof Error ? error.message : String(error) }, "could not answer a button press"),
      );
    }
  });

  async function press(ctx: Context, action: CallbackAction | null): Promise<string | undefined> {
    const chatId = ctx.chat?.id;
    if (!action || chatId === undefined) return ANSWERS.stale;
    switch (action.action) {
      case "pause":
        return answerFor(await control.pause(action.itemId, chatId), ANSWERS.paused);
      case "resume":
        return answerFor(await control.resume(action.itemId, chatId), ANSWERS.resumed);
      case "cancel":
        return answerFor(await control.cancel(action.itemId, chatId), ANSWERS.cancelled);
      case "again":
        return downloadAgain(ctx, chatId, action.itemId);
      case "resumeQueue": {
        const outcome = await control.resumeQueue(chatId);
        return !outcome.allowed ? ANSWERS.adminOnly : outcome.changed ? ANSWERS.queueResumed : ANSWERS.queueNotPaused;
      }
      case "queuePage":
      case "historyPage": {
        const view = action.action === "queuePage" ? await queuePage(chatId, action.page) : await historyPage(chatId, action.page);
        await ctx
          .editMessageText(view.text, { reply_markup: pagerKeyboard(action.action, view.page, view.pages) })
          .catch((error: unknown) => {
            if (!(error instanceof GrammyError && /not modified/i.test(error.description))) throw error;
          });
        return undefined;
      }
    }
  }

  function answerFor(outcome: ControlOutcome, done: string): string {
    if (outcome.ok) return done;
    switch (outcome.why) {
      case "finished":
        return ANSWERS.finished;
      case "already-paused":
        return ANSWERS.alreadyPaused;
      case "not-paused":
        return ANSWERS.notPaused;
      case "not-found":
        return ANSWERS.notAllowed;
      default:
        return ANSWERS.busy;
    }
  }

  /** "Download again" on a re-sent item: the URL goes through intake as with `/download!`, with the wishes it had (only its audio, say). */
  async function downloadAgain(ctx: Context, chatId: number, itemId: number): Promise<string> {
    const item = await control.find(itemId, chatId);
    if (!item) return ANSWERS.notAllowed;
    // As a /download! sent in reply to the request: the answer comes like any other.
    await deps.answers.ask([{ request: { kind: "link", text: item.url, fresh: true, wants: item.wants }, label: item.url }], {
      chatId,
      userId: ctx.from?.id ?? null,
      requestMessageId: item.requestMessageId ?? ctx.callbackQuery?.message?.message_id ?? null,
    });
    return ANSWERS.again;
  }

  return composer;
}

/**
 * Registered last: a press on a button nobody handles (from an older version of the bot, say)
 * still gets an answer, so the person's app stops waiting.
 */
export function unhandledButtonsFeature(): Composer<Context> {
  const composer = new Composer<Context>();
  composer.on("callback_query", (ctx) => ctx.answerCallbackQuery({ text: ANSWERS.stale }));
  return composer;
}

import { Composer, type Context } from "grammy";
import type { Db } from "../../db/database.ts";
import { deleteSubscription, findSubscription, listSubscriptions, upsertSubscription } from "../../db/subscription-repository.ts";
import type { Logger } from "../../logger.ts";
import type { SubscriptionScheduler } from "../../subscriptions/scheduler.ts";
import type { Schedule } from "../../subscriptions/subscription.ts";
import { parseWatchArgs } from "../../subscriptions/watch-args.ts";
import { replyTo } from "../create-bot.ts";
import { joinReply } from "../views/intake-view.ts";
import {
  WATCH_USAGE,
  checkAnswer,
  checkStarted,
  describeWatchProblem,
  notWatched,
  renderWatches,
  unwatched,
  watchChecked,
  watchStarted,
  watchUpdated,
} from "../views/subscription-view.ts";

export interface SubscriptionsFeatureDeps {
  db: Db;
  scheduler: SubscriptionScheduler;
  /** The scheduler's clock (a test's, in tests). */
  now: () => number;
  defaultSchedule: Schedule;
  /** When an updated subscription whose schedule changed is checked next (spread among the others). */
  nextCheckAt: (id: number, schedule: Schedule) => Promise<number>;
  logger: Logger;
}

/** "/unwatch 3", "/check #3": the id, or null. */
function idOf(text: string): number | null {
  const match = /^#?(\d{1,9})$/.exec(text.trim());
  return match ? Number(match[1]) : null;
}

/**
 * /watch, /watches, /unwatch and /check. Every query names the chat: a subscription is its chat's
 * alone, as an item is. A check runs outside the chat's turn (its answer comes when it is done),
 * so the chat's next command never waits behind a slow feed, and a /check while that
 * subscription's check runs gets that check's outcome rather than a second check.
 */
export function subscriptionsFeature(deps: SubscriptionsFeatureDeps): Composer<Context> {
  const { db, scheduler, logger } = deps;
  const composer = new Composer<Context>();
  const warn = (what: string) => (error: unknown) => logger.warn({ err: error instanceof Error ? error.message : String(error) }, what);

  composer.command("watch", async (ctx) => {
    const parsed = parseWatchArgs(ctx.match);
    if (!parsed.ok) {
      await ctx.reply(joinReply([...parsed.problems.map(describeWatchProblem), WATCH_USAGE]), replyTo(ctx.msg.message_id));
      return;
    }
    const { args } = parsed;
    const chatId = ctx.chat.id;
    const { subscription, created } = await upsertSubscription(
      db,
      { chatId, userId: ctx.from?.id ?? null, ...args },
      { now: deps.now(), defaultSchedule: deps.defaultSchedule, nextCheckAt: deps.nextCheckAt },
    );
    if (!created) {
      scheduler.wake();
      await ctx.reply(watchUpdated(subscription, deps.now()), replyTo(ctx.msg.message_id));
      return;
    }
    // Its first check now (in line before the schedule sees it due), in the background: the
    // answer is edited in when it is done.
    const checking = scheduler.checkNow(chatId, subscription.id, "first");
    const message = await ctx.reply(watchStarted(subscription), replyTo(ctx.msg.message_id));
    void checking
      .then(async (result) => {
        const after = await findSubscription(db, chatId, subscription.id);
        if (!after) return;
        await ctx.api.editMessageText(chatId, message.message_id, watchChecked(after, result, deps.now()));
      })
      .catch(warn("could not answer a /watch"));
  });

  composer.command("watches", async (ctx) => {
    await ctx.reply(renderWatches(await listSubscriptions(db, ctx.chat.id), deps.now()), { link_preview_options: { is_disabled: true } });
  });

  composer.command("unwatch", async (ctx) => {
    const id = idOf(ctx.match);
    const sub = id === null ? undefined : await findSubscription(db, ctx.chat.id, id);
    if (!sub || !(await deleteSubscription(db, ctx.chat.id, sub.id))) {
      await ctx.reply(notWatched(id), replyTo(ctx.msg.message_id));
      return;
    }
    scheduler.wake();
    await ctx.reply(unwatched(sub), replyTo(ctx.msg.message_id));
  });

  composer.command("check", async (ctx) => {
    const id = idOf(ctx.match);
    const chatId = ctx.chat.id;
    const sub = id === null ? undefined : await findSubscription(db, chatId, id);
    if (!sub) {
      await ctx.reply(notWatched(id), replyTo(ctx.msg.message_id));
      return;
    }
    // Said at once (and whether it joins a check already running); the outcome is edited in.
    const running = scheduler.isChecking(sub.id);
    const message = await ctx.reply(checkStarted(sub, running), replyTo(ctx.msg.message_id));
    void scheduler
      .checkNow(chatId, sub.id)
      .then(async (result) => {
        const after = await findSubscription(db, chatId, sub.id);
        if (!after || !result) return;
        await ctx.api.editMessageText(chatId, message.message_id, checkAnswer(after, result, deps.now()));
      })
      .catch(warn("could not answer a /check"));
  });

  return composer;
}

import type { Api } from "grammy";
import type { Logger } from "../logger.ts";
import type { SubscriptionEvents } from "../subscriptions/events.ts";
import { failingNotice, leftOverNotice, recoveredNotice } from "./views/subscription-view.ts";

/**
 * The chat side of the subscription engine's events: what a chat hears of its subscriptions
 * without asking. Never a message per check: once when checks keep failing, once when they work
 * again, and when a scheduled check left new entries for the next one. (/watch and /check answer
 * for the checks they start.)
 */
export function attachSubscriptionNotices(events: SubscriptionEvents, deps: { api: Api; now: () => number; logger: Logger }): () => void {
  return events.on((event) => {
    const { subscription: sub, result } = event;
    let text: string | undefined;
    if (event.told === "failing" && result.kind === "failed") text = failingNotice(sub, result, deps.now());
    else if (event.told === "recovered" && result.kind === "ok") text = recoveredNotice(sub, result);
    else if (event.trigger === "schedule" && result.kind === "ok" && result.left > 0) text = leftOverNotice(sub, result);
    if (!text) return;
    void deps.api
      .sendMessage(sub.chatId, text, { link_preview_options: { is_disabled: true } })
      .catch((error: unknown) => deps.logger.warn({ err: error instanceof Error ? error.message : String(error), subscription: sub.id }, "could not send a subscription's note"));
  });
}

import type { Context, MiddlewareFn } from "grammy";
import type { TaskRunner } from "../task-runner.ts";

/**
 * grammY's built-in long polling handles one update at a time, so one slow handler (a reply
 * waiting out a 429's retry_after, say) would hold every later update, a Cancel press included.
 * This middleware, registered first, hands each update to the task runner and returns at once.
 * Order still holds where it matters: a chat's messages run one after another in arrival order,
 * and so do its button presses (Pause then Cancel means exactly that), but presses never wait for
 * messages, and chats never wait for each other.
 */
export function detachedUpdates(tasks: TaskRunner): MiddlewareFn<Context> {
  const chains = new Map<string, Promise<void>>();
  return (ctx, next) => {
    const chatId = ctx.chat?.id ?? ctx.callbackQuery?.message?.chat.id;
    if (chatId === undefined) {
      tasks.run("update", () => next());
      return;
    }
    const key = `${ctx.callbackQuery ? "button" : "message"}:${chatId}`;
    const previous = chains.get(key) ?? Promise.resolve();
    const current = previous.then(() => next());
    const settled = current.then(
      () => undefined,
      () => undefined,
    );
    chains.set(key, settled);
    void settled.then(() => {
      if (chains.get(key) === settled) chains.delete(key);
    });
    tasks.run("update", () => current);
  };
}

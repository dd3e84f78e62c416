import { recordItemMessage, settleProgressMessage } from "../db/message-repository.ts";
import type { Item } from "../items/item.ts";
import { settlesWithin } from "../util/async.ts";
import { replyTo } from "./create-bot.ts";
import type { LiveMessages, LiveMessagesDeps } from "./live-messages.ts";

export type Outcome = "delivered" | "done" | "failed" | "cancelled";

/** What the live messages need, and the live messages themselves (which the final lines retire). */
export type FinalLinesDeps = LiveMessagesDeps & { messages: LiveMessages };

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * An item's last word in its chat: its progress message edited into the final line, or a
 * message of its own that replies to the request, and the record of which message is about the
 * item. Every send is tracked, so a shutdown can wait for the last ones.
 */
export class FinalLines {
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly deps: FinalLinesDeps) {}

  /** Waits (up to `timeoutMs`) for the final lines still being sent (shutdown). */
  async drain(timeoutMs: number): Promise<void> {
    await settlesWithin(Promise.allSettled([...this.pending]), timeoutMs);
  }

  /**
   * The item's last word as a message of its own that stays (an edit notifies nobody), replying
   * to the request; its live message goes, so the outcome shows once.
   */
  replace(item: Item, messageId: number | undefined, text: string, outcome: Outcome): void {
    if (messageId === undefined) return this.finish(item, messageId, text, outcome, false);
    this.deps.editor.forget(item.chatId, messageId);
    // No longer the item's live message before anyone can see the outcome (and /retry it): a
    // retried item must get a fresh message, not this one.
    this.track(
      this.settled(item, messageId)
        .then(() => this.deps.api.sendMessage(item.chatId, text, replyTo(item.requestMessageId)))
        .then(
        async (message) => {
          this.remember(item, message.message_id);
          this.deps.messages.observe(item.chatId, message.message_id);
          this.deps.messages.retire(item.chatId, messageId);
          await this.deps.api.deleteMessage(item.chatId, messageId).catch(() => {
            // Too old to delete (48 h) or already gone: leave it as the final line instead.
            void this.deps.editor.edit(item.chatId, messageId, { text });
          });
        },
        (error: unknown) => {
          this.deps.logger.warn({ err: errorText(error) }, "could not send the final message");
          this.finish(item, messageId, text, outcome, false);
        },
      ),
    );
  }

  /**
   * The item's final line: its progress message edited into it, or a message of its own when it
   * has none. The file (or the page summary) stays in the chat; the line about it goes after a
   * while. Failures stay.
   */
  finish(item: Item, messageId: number | undefined, text: string, outcome: Outcome, transient = outcome !== "failed"): void {
    if (messageId === undefined) {
      this.track(
        this.deps.api.sendMessage(item.chatId, text).then(
          (message) => {
            // A message of its own: nothing else links it to the item.
            this.remember(item, message.message_id);
            if (transient) this.deps.notices.schedule(item.chatId, message.message_id);
          },
          (error: unknown) => this.deps.logger.warn({ err: errorText(error) }, "could not send the final status"),
        ),
      );
      return;
    }
    this.track(
      // Settled first, for the same reason as in `replace`.
      this.settled(item, messageId)
        .then(() => this.deps.editor.edit(item.chatId, messageId, { text }))
        .then(() => {
        // The chat's next item may have taken the message over meanwhile: it is live again.
        if (this.deps.messages.showsAnother(item, messageId)) return;
        this.deps.editor.forget(item.chatId, messageId);
        if (transient) this.deps.notices.schedule(item.chatId, messageId);
      }),
    );
  }

  /** The progress message shows the item's final line: no longer live (see `settleProgressMessage`). Never rejects. */
  private settled(item: Item, messageId: number): Promise<void> {
    return settleProgressMessage(this.deps.db, item, messageId, this.deps.now()).catch((error: unknown) =>
      this.deps.logger.warn({ err: errorText(error) }, "could not record a final line"),
    );
  }

  /** Records that a bot message is about the item, so a reply to it names the item. */
  private remember(item: Item, messageId: number): void {
    void recordItemMessage(this.deps.db, item.chatId, messageId, [item.id], this.deps.now()).catch((error: unknown) =>
      this.deps.logger.warn({ err: errorText(error) }, "could not record a message"),
    );
  }

  track(promise: Promise<unknown>): void {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise));
  }
}

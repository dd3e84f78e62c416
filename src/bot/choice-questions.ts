import type { Api } from "grammy";
import type { InlineKeyboardMarkup } from "grammy/types";
import type { Db } from "../db/database.ts";
import { choiceMessageOf, recordItemMessage, saveChoiceMessage, settleProgressMessage } from "../db/message-repository.ts";
import { type Choice, type ChoiceOffer, initialDraft } from "../items/choice.ts";
import type { Item } from "../items/item.ts";
import type { Logger } from "../logger.ts";
import { replyTo } from "./create-bot.ts";
import type { MessageEditor } from "./message-editor.ts";
import { renderChosen, renderEntriesQuestion, renderFileQuestion, renderQualityQuestion } from "./views/choice-view.ts";
import { renderCancelled } from "./views/progress-view.ts";

export interface ChoiceQuestionsDeps {
  api: Api;
  db: Db;
  editor: MessageEditor;
  logger: Logger;
  now?: () => number;
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * The chat side of items that wait for a choice: the question (a message of its own that replies
 * to the request and notifies, since someone has to act), kept up to date as files are picked,
 * and turned into what was chosen. Which message asks about which item is stored
 * (`choice_messages`), so a question asked before a restart still works after it.
 */
export class ChoiceQuestions {
  private readonly now: () => number;

  constructor(private readonly deps: ChoiceQuestionsDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The question, its text and buttons, for the item as stored and the picked files. */
  view(item: Item, offer: ChoiceOffer, picked: readonly number[], page: number): { text: string; markup: InlineKeyboardMarkup; page: number } {
    if (offer.kind === "files") return renderFileQuestion(item, offer, picked, page, this.now());
    if (offer.kind === "entries") return renderEntriesQuestion(item, offer, page, this.now());
    return { ...renderQualityQuestion(item, offer, this.now()), page: 0 };
  }

  /**
   * Asks: sends the question and records it, in place of the item's live message (`liveId`, no
   * longer live: `retire` tells the chat's live messages). Resolves once done; failures are logged.
   */
  async ask(item: Item, offer: ChoiceOffer, liveId: number | undefined, retire: (messageId: number) => void): Promise<void> {
    const { text, markup } = this.view(item, offer, initialDraft(offer), 0);
    try {
      if (liveId !== undefined) {
        this.deps.editor.forget(item.chatId, liveId);
        await settleProgressMessage(this.deps.db, item, liveId, this.now());
        retire(liveId);
        await this.deps.api.deleteMessage(item.chatId, liveId).catch(() => {});
      }
      const message = await this.deps.api.sendMessage(item.chatId, text, { reply_markup: markup, ...replyTo(item.requestMessageId) });
      await saveChoiceMessage(this.deps.db, item.id, item.chatId, message.message_id);
      // A reply to the question with /cancel names the item.
      await recordItemMessage(this.deps.db, item.chatId, message.message_id, [item.id], this.now());
    } catch (error) {
      this.deps.logger.warn({ itemId: item.id, err: errorText(error) }, "could not ask for a choice");
    }
  }

  /** Shows the question again after a change (a file toggled, another page). */
  async refresh(item: Item, offer: ChoiceOffer, picked: readonly number[], page?: number): Promise<void> {
    const asked = await choiceMessageOf(this.deps.db, item.id);
    if (!asked) return;
    const view = this.view(item, offer, picked, page ?? asked.page);
    if (view.page !== asked.page) await saveChoiceMessage(this.deps.db, item.id, asked.chatId, asked.messageId, view.page);
    await this.deps.editor.edit(asked.chatId, asked.messageId, { text: view.text, markup: view.markup });
  }

  /** Cancelled while it asked: the question says so and loses its buttons (a chosen one already said what came). */
  async cancelled(item: Item): Promise<void> {
    const asked = await choiceMessageOf(this.deps.db, item.id).catch(() => undefined);
    if (asked && item.choiceDeadline !== null) await this.deps.editor.edit(asked.chatId, asked.messageId, { text: renderCancelled(item.title) });
  }

  /** Chosen (or timed out): the question says what comes, without buttons. */
  async answered(item: Item, choice: Choice, timedOut: boolean): Promise<void> {
    const asked = await choiceMessageOf(this.deps.db, item.id).catch(() => undefined);
    const text = renderChosen(item, item.choiceOffer, choice, timedOut);
    if (asked) await this.deps.editor.edit(asked.chatId, asked.messageId, { text });
    else await this.deps.api.sendMessage(item.chatId, text, replyTo(item.requestMessageId)).catch((error: unknown) => this.deps.logger.warn({ err: errorText(error) }, "could not say what was chosen"));
  }
}

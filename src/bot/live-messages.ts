import type { Api } from "grammy";
import type { Db } from "../db/database.ts";
import { liveMessageOf, setLiveMessage, settleProgressMessage } from "../db/message-repository.ts";
import type { Item } from "../items/item.ts";
import type { Logger } from "../logger.ts";
import { replyTo } from "./create-bot.ts";
import type { MessageEditor } from "./message-editor.ts";
import type { TransientNotices } from "./notices.ts";

export interface LiveMessagesDeps {
  api: Api;
  db: Db;
  editor: MessageEditor;
  notices: TransientNotices;
  logger: Logger;
  now: () => number;
}

/** What a starting item shows first, rendered by the reporter. */
export interface FirstView {
  text: string;
  markup: Parameters<MessageEditor["track"]>[3];
}

/** A chat's live status message, which the chat's items run in one after another. */
interface ChatState {
  /** The newest message id seen in the chat, anyone's (ids grow by one per message). */
  newest: number;
  liveId?: number;
  /** The item the live message shows, or showed last. */
  showing?: number;
  /**
   * It shows a delivery now, which the file itself announces: the next item may take it over.
   * A paused, retrying or cancelled item keeps its message.
   */
  free?: boolean;
}

/** How many messages may follow the live message before it is out of sight and sent anew below. */
const IN_SIGHT = 4;
/** How long a new item's live message waits for its acknowledgement, to become that message. */
const ADOPT_WAIT_MS = 2500;

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Where each chat's live message sits: which message an item's progress shows in (its own, the
 * chat's live message while it is in sight, the acknowledgement of its request, or a new one at
 * the bottom), which messages the chat has seen since, and which item each live message shows.
 * What the messages say is the reporter's.
 */
export class LiveMessages {
  private readonly chats = new Map<number, ChatState>();
  /** Acknowledgements offered for an item, and items waiting for theirs. */
  private readonly offered = new Map<number, number | undefined>();
  private readonly adopters = new Map<number, (messageId: number | undefined) => void>();

  constructor(private readonly deps: LiveMessagesDeps) {}

  /** Whether anything is kept for the chat (only allowed chats ever are). */
  tracksChat(chatId: number): boolean {
    return this.chats.has(chatId);
  }

  /** A message went into a chat (anyone's): the live message may now be out of sight. */
  observe(chatId: number, messageId: number): void {
    const chat = this.chat(chatId);
    chat.newest = Math.max(chat.newest, messageId);
  }

  /**
   * The answer to a request about one item went out: if that item starts at once, this message
   * becomes its live message instead of a second one.
   */
  offer(chatId: number, messageId: number, itemId: number): void {
    const adopt = this.adopters.get(itemId);
    if (adopt) return adopt(messageId);
    this.offered.set(itemId, messageId);
    setTimeout(() => this.offered.delete(itemId), ADOPT_WAIT_MS * 2).unref();
    this.observe(chatId, messageId);
  }

  /** The item's request is answered by a message it cannot have (it names several items). */
  decline(itemId: number): void {
    const adopt = this.adopters.get(itemId);
    if (adopt) return adopt(undefined);
    this.offered.set(itemId, undefined);
    setTimeout(() => this.offered.delete(itemId), ADOPT_WAIT_MS * 2).unref();
  }

  /** The item's run ended with a delivery, which the file announces: the next item may take its message. */
  release(item: Item, messageId: number): void {
    const chat = this.chat(item.chatId);
    if (chat.liveId === messageId && chat.showing === item.id) chat.free = true;
  }

  /** The message is no longer the chat's live message (the item's last word went out as a new one). */
  retire(chatId: number, messageId: number): void {
    const chat = this.chat(chatId);
    if (chat.liveId === messageId) chat.liveId = undefined;
  }

  /** Whether the chat's next item took the message over meanwhile (it is live again, for another). */
  showsAnother(item: Item, messageId: number): boolean {
    const chat = this.chat(item.chatId);
    return chat.liveId === messageId && chat.showing !== item.id;
  }

  /** The message that shows the item's progress, if any (as stored: it survives restarts). */
  liveMessageOf(itemId: number): Promise<number | undefined> {
    return liveMessageOf(this.deps.db, itemId);
  }

  /** The item's progress message, unless the chat's live message there shows another item now. */
  async ownMessage(item: Item): Promise<number | undefined> {
    const messageId = await liveMessageOf(this.deps.db, item.id);
    return messageId !== undefined && this.showsAnother(item, messageId) ? undefined : messageId;
  }

  /**
   * The message a starting item shows its progress in: its own from an earlier attempt; else the
   * chat's live message, while it is in sight; else its acknowledgement, when that is the answer
   * to its request alone; else a new one at the bottom of the chat.
   */
  async place(item: Item, first: FirstView): Promise<number | undefined> {
    const { api, editor, notices } = this.deps;
    const chat = this.chat(item.chatId);
    const { text, markup } = first;
    const own = await liveMessageOf(this.deps.db, item.id);
    const show = async (messageId: number, fresh: boolean) => {
      if (chat.liveId === messageId && chat.showing !== undefined && chat.showing !== item.id) {
        await this.detach(item.chatId, chat.showing, messageId);
      }
      chat.liveId = messageId;
      chat.showing = item.id;
      chat.free = false;
      if (fresh) editor.track(item.chatId, messageId, text, markup);
      else void editor.edit(item.chatId, messageId, { text, markup });
      if (own !== messageId) await setLiveMessage(this.deps.db, item.id, messageId);
      return messageId;
    };
    const usable = (messageId: number) => {
      // A final line scheduled to go is kept after all; one already gone cannot be shown again.
      notices.keep(item.chatId, messageId);
      return !notices.wasDeleted(item.chatId, messageId);
    };
    if (own !== undefined && usable(own)) return show(own, false);
    if (chat.liveId !== undefined && chat.free && chat.newest - chat.liveId <= IN_SIGHT && usable(chat.liveId)) return show(chat.liveId, false);
    const ack = await this.acknowledgementOf(item);
    if (ack !== undefined && usable(ack)) return show(ack, false);
    try {
      const message = await api.sendMessage(item.chatId, text, { reply_markup: markup, ...replyTo(item.requestMessageId) });
      this.observe(item.chatId, message.message_id);
      // The old live message, out of sight now, shows a final line that goes after a while.
      return show(message.message_id, true);
    } catch (error) {
      this.deps.logger.warn({ itemId: item.id, err: errorText(error) }, "could not send the progress message");
      return undefined;
    }
  }

  private chat(chatId: number): ChatState {
    let chat = this.chats.get(chatId);
    if (!chat) {
      chat = { newest: 0 };
      this.chats.set(chatId, chat);
    }
    return chat;
  }

  /** The answer to the item's request, when it comes soon (the item was just queued) and is about it alone. */
  private acknowledgementOf(item: Item): Promise<number | undefined> {
    if (this.offered.has(item.id)) {
      const offered = this.offered.get(item.id);
      this.offered.delete(item.id);
      return Promise.resolve(offered);
    }
    // Only a request someone just sent has an answer on its way.
    if (item.requestId === null || this.deps.now() - item.createdAt > ADOPT_WAIT_MS) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), ADOPT_WAIT_MS);
      const done = (messageId: number | undefined) => {
        clearTimeout(timer);
        this.adopters.delete(item.id);
        resolve(messageId);
      };
      this.adopters.set(item.id, done);
    });
  }

  /** An item whose live message now shows another: the message stays findable as about it. */
  private async detach(chatId: number, itemId: number, messageId: number): Promise<void> {
    await settleProgressMessage(this.deps.db, { id: itemId, chatId }, messageId, this.deps.now()).catch(() => {});
  }
}

import { type Db, transact } from "./database.ts";
import { type Item, findItem } from "./item-repository.ts";

/** Which bot message is about which item, so a reply to it with /cancel or /retry names the item. */

/** Remembers that a bot message speaks about these items. */
export async function recordItemMessage(db: Db, chatId: number, messageId: number, itemIds: readonly number[], now: number): Promise<void> {
  if (itemIds.length === 0) return;
  await db
    .insertInto("item_messages")
    .values([...new Set(itemIds)].map((itemId) => ({ chat_id: chatId, message_id: messageId, item_id: itemId, created_at: now })))
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/**
 * The items a message in a chat is about: the progress message of an item, a recorded bot
 * message (acknowledgement, failure note), or the person's own request. Oldest first.
 */
export async function itemsForMessage(db: Db, chatId: number, messageId: number): Promise<Item[]> {
  const rows = await db
    .selectFrom("items")
    .select("id")
    .where("chat_id", "=", chatId)
    .where((eb) =>
      eb.or([
        eb("id", "in", eb.selectFrom("live_messages").select("item_id").where("message_id", "=", messageId)),
        eb("request_message_id", "=", messageId),
        eb(
          "id",
          "in",
          eb.selectFrom("item_messages").select("item_id").where("chat_id", "=", chatId).where("message_id", "=", messageId),
        ),
      ]),
    )
    .orderBy("id", "asc")
    .execute();
  const items = await Promise.all(rows.map((r) => findItem(db, r.id)));
  return items.filter((i): i is Item => i !== undefined);
}

/** The message that shows the item's progress, if it has one. */
export async function liveMessageOf(db: Db, itemId: number): Promise<number | undefined> {
  const row = await db.selectFrom("live_messages").select("message_id").where("item_id", "=", itemId).executeTakeFirst();
  return row?.message_id;
}

/** The message shows the item's progress from now on. */
export async function setLiveMessage(db: Db, itemId: number, messageId: number): Promise<void> {
  await db
    .insertInto("live_messages")
    .values({ item_id: itemId, message_id: messageId })
    .onConflict((oc) => oc.column("item_id").doUpdateSet({ message_id: messageId }))
    .execute();
}

/** Every item with a live message, and the message: what a previous process may have left showing. */
export async function listLiveMessages(db: Db): Promise<Array<{ itemId: number; messageId: number }>> {
  const rows = await db.selectFrom("live_messages").select(["item_id", "message_id"]).orderBy("item_id").execute();
  return rows.map((r) => ({ itemId: r.item_id, messageId: r.message_id }));
}

/**
 * An item's progress message shows its final line now: it stays findable for replies (as a
 * message about the item) but is no longer the item's live message, so nothing edits it again.
 */
export async function settleProgressMessage(db: Db, item: Pick<Item, "id" | "chatId">, messageId: number, now: number): Promise<void> {
  await transact(db, async (trx) => {
    await trx
      .insertInto("item_messages")
      .values({ chat_id: item.chatId, message_id: messageId, item_id: item.id, created_at: now })
      .onConflict((oc) => oc.doNothing())
      .execute();
    await trx.deleteFrom("live_messages").where("item_id", "=", item.id).where("message_id", "=", messageId).execute();
  });
}

/** The message that asks the item's chat to choose, and the page of the list it shows. */
export async function choiceMessageOf(db: Db, itemId: number): Promise<{ chatId: number; messageId: number; page: number } | undefined> {
  const row = await db.selectFrom("choice_messages").select(["chat_id", "message_id", "page"]).where("item_id", "=", itemId).executeTakeFirst();
  return row ? { chatId: row.chat_id, messageId: row.message_id, page: row.page } : undefined;
}

/** Records (or moves) the question of an item, at `page`. */
export async function saveChoiceMessage(db: Db, itemId: number, chatId: number, messageId: number, page = 0): Promise<void> {
  await db
    .insertInto("choice_messages")
    .values({ item_id: itemId, chat_id: chatId, message_id: messageId, page })
    .onConflict((oc) => oc.column("item_id").doUpdateSet({ chat_id: chatId, message_id: messageId, page }))
    .execute();
}

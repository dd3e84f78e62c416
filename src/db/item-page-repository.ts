import type { Item, ItemStatus } from "../items/item.ts";
import type { Db } from "./database.ts";
import { selectItems, toItem } from "./item-query-repository.ts";

/**
 * One page of a chat's items in the given statuses, newest first, with how many there are in
 * all (the web API's item listing by status; the queue order and /history have reads of their own).
 */
export async function listChatItemsPage(
  db: Db,
  chatId: number,
  statuses: readonly ItemStatus[],
  page: { offset: number; limit: number },
): Promise<{ items: Item[]; total: number }> {
  const rows = await selectItems(db)
    .where("chat_id", "=", chatId)
    .where("status", "in", statuses)
    .orderBy("items.id", "desc")
    .limit(page.limit)
    .offset(page.offset)
    .execute();
  const count = await db
    .selectFrom("items")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("chat_id", "=", chatId)
    .where("status", "in", statuses)
    .executeTakeFirstOrThrow();
  return { items: rows.map(toItem), total: Number(count.n) };
}

import type { Choice } from "../items/choice.ts";
import type { Item } from "../items/item.ts";
import type { Db } from "./database.ts";
import { transition } from "./item-repository.ts";
import { earliest, selectItems, toItem } from "./item-query-repository.ts";

/**
 * Items waiting for a choice (`choosing`, entered by `waitForChoice` in item-repository.ts): the
 * draft a person is making, the choice that sends the item back in line, the deadlines. Each
 * write is a compare-and-set on the status (and the chat), so a press that comes after the choice
 * (or after the timeout) changes nothing.
 */

/** Stores the draft selection of a waiting item of `chatId`; false when it no longer waits. */
export async function setChoiceDraft(db: Db, id: number, chatId: number, draft: Choice, now: number): Promise<boolean> {
  const r = await db
    .updateTable("items")
    .set({ choice: JSON.stringify(draft), updated_at: now })
    .where("id", "=", id)
    .where("chat_id", "=", chatId)
    .where("status", "=", "choosing")
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/**
 * Chosen: back in line at its place (the queue orders by priority, then age, so it goes where it
 * stood), ready at once. Undefined when it was not waiting any more.
 */
export function choose(db: Db, item: Pick<Item, "id" | "wants">, choice: Choice, now: number): Promise<Item | undefined> {
  // "Audio only" is the same wish as /audio's, from then on.
  const wants = choice.kind === "audio" ? { wants: { ...item.wants, audioOnly: true } } : {};
  return transition(db, item.id, { from: "choosing", to: "queued", patch: { choice, choiceDeadline: null, nextAttemptAt: now, ...wants } }, now);
}

/** The waiting items whose question timed out by `now`, oldest deadline first. */
export async function expiredChoices(db: Db, now: number): Promise<Item[]> {
  const rows = await selectItems(db).where("status", "=", "choosing").where("choice_deadline", "<=", now).orderBy("choice_deadline").execute();
  return rows.map(toItem);
}

/** When the next question times out, if any waits. */
export function nextChoiceDeadline(db: Db): Promise<number | undefined> {
  return earliest(db, "choice_deadline", "choosing");
}

import { afterEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/database.ts";
import { claimNextItem, findItem, insertItem, waitForChoice } from "../../src/db/item-repository.ts";
import type { ChoiceOffer } from "../../src/items/choice.ts";
import { ChoiceControl } from "../../src/queue/choice-control.ts";
import { type QueueEvent, QueueEvents } from "../../src/queue/events.ts";
import { openTestDb } from "../support/test-db.ts";

/** A real SQLite file with the real migrations, and the queue's event stream recorded. */
let world: { db: Db; close(): Promise<void>; events: QueueEvents; seen: QueueEvent[] } | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const OFFER: ChoiceOffer = {
  kind: "files",
  files: [
    { index: 0, path: "a/e01.mkv", size: 10, selectable: true },
    { index: 1, path: "a/e02.mkv", size: 20, selectable: true },
    { index: 2, path: "a/big.iso", size: 99, selectable: false },
    { index: 3, path: "a/notes.txt", size: 1, selectable: true },
  ],
};

/** An item of chat 1 that waits for a choice of OFFER, as the worker leaves it. */
async function waiting() {
  const { db, close } = await openTestDb("dlbot-choice-");
  const events = new QueueEvents();
  const seen: QueueEvent[] = [];
  events.onAny((e) => seen.push(e));
  world = { db, close, events, seen };
  await insertItem(db, { chatId: 1, userId: 2, url: "magnet:?xt=urn:btih:pack", sourceKind: "torrent", title: "pack", sizeBytes: null }, Date.now());
  const claimed = await claimNextItem(world.db, Date.now());
  return (await waitForChoice(world.db, claimed!, OFFER, Date.now() + 60_000, Date.now()))!;
}

describe("ChoiceControl", () => {
  it("lets only the item's own chat change the draft or choose; another chat's press changes nothing", async () => {
    const item = await waiting();
    let notified = 0;
    const control = new ChoiceControl({ db: world!.db, events: world!.events, notify: () => notified++ });
    const other = item.chatId + 1;
    expect(await control.draftFiles(item.id, other, { toggle: 0 })).toBeUndefined();
    expect(await control.start(item.id, other)).toBeUndefined();
    expect(await findItem(world!.db, item.id)).toMatchObject({ status: "choosing", choice: null });
    expect(notified).toBe(0);

    // Its own chat: a file out, one that cannot be picked stays out, then started.
    expect((await control.draftFiles(item.id, item.chatId, { toggle: 1 }))?.choice).toEqual({ kind: "files", indices: [0, 3] });
    expect((await control.draftFiles(item.id, item.chatId, { toggle: 2 }))?.choice).toEqual({ kind: "files", indices: [0, 3] });
    expect((await control.draftFiles(item.id, item.chatId, { videos: true }))?.choice).toEqual({ kind: "files", indices: [0, 1] });
    expect(await control.start(item.id, item.chatId)).toMatchObject({ item: { status: "queued", choice: { kind: "files", indices: [0, 1] }, choiceDeadline: null } });
    expect(notified).toBe(1);
    expect(world!.seen.map((e) => e.type)).toEqual(["chosen"]);
    // Once chosen, the question is answered: a late press changes nothing.
    expect(await control.draftFiles(item.id, item.chatId, { none: true })).toBeUndefined();
    expect(await control.start(item.id, item.chatId)).toBeUndefined();
  });

  it("refuses to start with no file picked, and keeps waiting", async () => {
    const item = await waiting();
    const control = new ChoiceControl({ db: world!.db, events: world!.events, notify: () => {} });
    await control.draftFiles(item.id, item.chatId, { none: true });
    expect(await control.start(item.id, item.chatId)).toEqual({ nothing: true });
    expect(await findItem(world!.db, item.id)).toMatchObject({ status: "choosing" });
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { listItems } from "../../src/db/item-repository.ts";
import { FileServer } from "../support/file-server.ts";
import { tooManyRequests } from "../support/bot-api-double.ts";
import { Harness, messageIdOf } from "../support/harness.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe("intake off the chat's turn", () => {
  it("answers /status and /queue at once while five slow pre-checks run, checks them in parallel, and queues them in order", async () => {
    h = await Harness.create();
    const files = [1, 2, 3, 4, 5].map((n) => {
      const file = h!.files.addFile(`/slow/${n}.bin`, FileServer.randomBytes(5_000, 90 + n));
      h!.files.fault(`/slow/${n}.bin`, { kind: "holdHead", times: 1 });
      return file;
    });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${files.map((f) => f.url).join("\n")}`);
    // Four pre-checks at once, all held by the slow server.
    for (const n of [1, 2, 3, 4]) await h.files.waitForHeldHead(`/slow/${n}.bin`);

    const asked = h.api.nextSeq;
    h.send("/status");
    expect(String((await h.reply(asked, undefined, /^<b>Status<\/b>/)).params.text)).toMatch(/0 queued/);
    h.send("/queue");
    await h.reply(asked, undefined, /queue/i);
    expect(h.files.heldHeads).toHaveLength(4);

    // The answer says what is going on, and becomes the outcome once the checks are done.
    const ack = await h.reply(since, undefined, /checking…/);
    expect(String(ack.params.text).split("\n")).toHaveLength(5);
    h.files.releaseStalls();
    await h.files.waitForHeldHead("/slow/5.bin");
    h.files.releaseStalls();
    const done = await h.waitForText(messageIdOf(ack), /Queued #5/, since);
    expect(done.split("\n")).toEqual([1, 2, 3, 4, 5].map((n) => `✓ Queued #${n} ${n}.bin (4.9 KB): position ${n} in the queue.`));
    expect((await listItems(h.app!.db)).map((i) => i.url)).toEqual(files.map((f) => f.url));
    await h.api.waitForCall(() => h!.uploads().length === 5, { since });
    expect(h.uploads().map((u) => u.files[0]!.sha256)).toEqual(files.map((f) => f.sha256));
  });

  it("answers /status while the answer to a /download waits out a 429", async () => {
    h = await Harness.create();
    const file = h.files.addFile("/flood.bin", FileServer.randomBytes(5_000, 99));
    h.files.fault("/flood.bin", { kind: "holdHead", times: 1 });
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    await h.files.waitForHeldHead("/flood.bin");
    // The answer to the /download meets a flood limit of 3 s when it goes out.
    h.api.failNext("sendMessage", tooManyRequests(3));
    h.files.releaseStalls();
    await h.api.waitForCall((c) => c.method === "sendMessage" && c.response?.ok === false, { since });
    const asked = h.api.nextSeq;
    h.send("/status");
    const status = await h.reply(asked, undefined, /^<b>Status<\/b>/);
    const ack = await h.reply(since, undefined, /Queued #1/);
    expect(String(ack.params.text)).toMatch(/^✓ Queued #1 /);
    // The chat's next command did not wait for the flood limit: it was answered first.
    expect(status.seq).toBeLessThan(ack.seq);
  });

  it("says what is wrong with a link once, without repeating its host", async () => {
    h = await Harness.create();
    await h.start();
    const url = `${h.files.baseUrl}/nowhere.bin`;
    const since = h.api.nextSeq;
    h.send(`/download ${url}`);
    expect(String((await h.reply(since)).params.text)).toBe(`✗ ${url}: the file is not there (HTTP 404); check the link and send it again.`);
  });
});

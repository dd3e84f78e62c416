import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { putSetting } from "../../src/db/settings-repository.ts";
import { FileServer } from "../support/file-server.ts";
import { Harness } from "../support/harness.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Starts a slow download, stops the bot mid-transfer and returns its progress message. */
async function interruptedDownload(harness: Harness): Promise<number> {
  const file = harness.files.addFile("/slow.bin", FileServer.randomBytes(2_000_000, 71));
  harness.files.throttle("/slow.bin", 200_000);
  await harness.start();
  const since = harness.api.nextSeq;
  harness.send(`/download ${file.url}`);
  const progress = await harness.progressMessageId(since);
  await harness.waitForText(progress, /⬇️ Downloading/, since);
  await harness.stopApp();
  return progress;
}

describe("live messages across a restart", () => {
  it("an interrupted item's message says it continues, instead of showing a transfer that stopped", async () => {
    h = await Harness.create();
    const progress = await interruptedDownload(h);
    expect(h.textOf(progress)).toMatch(/⬇️ Downloading/);
    // Paused, so the item does not start again at once (which would show its progress anyway).
    await h.withDb((db) => putSetting(db, "queue_paused", "1", Date.now()));
    const since = h.api.nextSeq;
    await h.start();
    const text = await h.waitForText(progress, /restarted/, since);
    expect(text).toMatch(/⏳ Waiting in line\n/);
    expect(text).toMatch(/The bot restarted: this continues from where it stopped when its turn comes\.\nThe whole queue is paused: \/resume continues\./);
    expect(h.api.chat(1001).find((m) => m.message_id === progress)?.reply_markup).toBeDefined();
  });

  it("an item recorded as delivered just before the process died gets its final line at start", async () => {
    h = await Harness.create();
    const progress = await interruptedDownload(h);
    // The state a crash leaves between recording the delivery and editing the message.
    await h.withDb(async (db) => {
      await sql`update items set status = 'completed', finished_at = ${Date.now()} where id = 1`.execute(db);
      await sql`insert into item_files (item_id, position, path, name, size_bytes, file_id, upload_kind, uploaded_at)
        values (1, 0, '/gone/slow.bin', 'slow.bin', 2000000, 'F1', 'document', ${Date.now()})`.execute(db);
    });
    const since = h.api.nextSeq;
    await h.start();
    expect(await h.waitForText(progress, /delivered/, since)).toBe("✅ slow.bin: delivered (1.9 MB)");
    expect(h.api.chat(1001).find((m) => m.message_id === progress)?.reply_markup).toBeUndefined();
    // Settled: the next start leaves it alone.
    await h.stopApp();
    const again = h.api.nextSeq;
    await h.start();
    const later = h.files.addFile("/later.bin", FileServer.randomBytes(1_000, 72));
    h.send(`/download ${later.url}`);
    await h.upload(again);
    expect(h.api.callsOf("editMessageText").filter((c) => c.seq >= again && c.params.message_id === progress)).toEqual([]);
  });
});

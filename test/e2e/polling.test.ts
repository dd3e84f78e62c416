import { GrammyError } from "grammy";
import { afterEach, describe, expect, it } from "vitest";
import { FileServer } from "../support/file-server.ts";
import { Harness } from "../support/harness.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const CONFLICT = { error_code: 409, description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running" };

describe("polling", () => {
  it("rides out a 409 Conflict (a deploy's overlap) and goes on working", async () => {
    h = await Harness.create();
    h.api.failNext("getUpdates", CONFLICT, 2);
    const app = await h.start();
    let ended = false;
    void app.stopped.then(() => (ended = true));
    const file = h.files.addFile("/after-conflict.bin", FileServer.randomBytes(20_000, 81));
    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    expect((await h.upload(since)).files[0]!.sha256).toBe(file.sha256);
    expect(h.api.callsOf("getUpdates").filter((c) => c.response?.ok === false).map((c) => (c.response as { error_code: number }).error_code)).toEqual([409, 409]);
    expect(ended).toBe(false);
  });

  it("ends polling, naming the conflict, when another process keeps polling", async () => {
    h = await Harness.create();
    h.api.failNext("getUpdates", CONFLICT, 1000);
    const app = await h.start({ conflictLimitMs: 1500 });
    const error = await app.stopped;
    expect(error).toBeInstanceOf(GrammyError);
    expect((error as GrammyError).error_code).toBe(409);
  });
});

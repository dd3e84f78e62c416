import { type Api, GrammyError } from "grammy";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MessageEditor } from "../../src/bot/message-editor.ts";
import { createLogger } from "../../src/logger.ts";

const logger = createLogger({ level: "silent", secrets: [] });

afterEach(() => {
  vi.useRealTimers();
});

describe("MessageEditor", () => {
  it("stops editing a message Telegram says is gone (deleted in the chat)", async () => {
    vi.useFakeTimers();
    const calls: string[] = [];
    const api = {
      editMessageText: async (_chat: number, _id: number, text: string) => {
        calls.push(text);
        throw new GrammyError("x", { ok: false, error_code: 400, description: "Bad Request: message to edit not found" }, "editMessageText", {});
      },
    } as unknown as Api;
    const editor = new MessageEditor(api, 100, logger);
    // A transfer keeps asking for edits, one per interval, for a long while.
    const done: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      done.push(editor.edit(1, 7, { text: `progress ${i}` }));
      await vi.advanceTimersByTimeAsync(150);
    }
    // Every caller was answered, and only the first edit was ever sent.
    await Promise.all(done);
    expect(calls).toEqual(["progress 0"]);
    expect(editor.hasPending(1, 7)).toBe(false);
    editor.close();
  });
});

import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import type { ChatSettings } from "../../src/chats/chat-settings.ts";
import { createLogger } from "../../src/logger.ts";
import { createUploadPreparer } from "../../src/media/prepare-upload.ts";
import { bytesMissing } from "../../src/sources/segments.ts";
import { DataDisk } from "../../src/storage/data-disk.ts";
import type { MediaTools } from "../../src/tools/ffmpeg.ts";

describe("bytesMissing (which bytes of a file still downloading are on disk)", () => {
  const parts = [
    { start: 0, end: 100, done: 100 },
    { start: 100, end: 200, done: 30 },
    { start: 200, end: 300, done: 0 },
  ];

  it("counts only the bytes no part has written yet", () => {
    expect(bytesMissing(parts, 0, 100)).toBe(0);
    expect(bytesMissing(parts, 50, 130)).toBe(0);
    expect(bytesMissing(parts, 50, 131)).toBe(1);
    expect(bytesMissing(parts, 0, 300)).toBe(170);
    expect(bytesMissing(parts, 150, 250)).toBe(100);
  });

  it("follows the parts as they write (the same objects the download updates)", () => {
    const live = parts.map((p) => ({ ...p }));
    expect(bytesMissing(live, 100, 200)).toBe(70);
    live[1]!.done = 100;
    expect(bytesMissing(live, 100, 200)).toBe(0);
  });
});

describe("planEarly (parts that can go up before their file is whole)", () => {
  const logger = createLogger({ level: "silent", secrets: [] });
  const settings = (over: Partial<ChatSettings> = {}) => async () => ({ uploadAs: "auto" as const, splitStyle: "playable" as const, ...over });
  const planner = (over: Partial<ChatSettings> = {}, tools?: MediaTools, limit = 100, localBotApi = false) =>
    createUploadPreparer({ tools, limit, split: true, localBotApi, disk: new DataDisk({ dir: tmpdir(), logger }), logger, settingsOf: settings(over) }).planEarly;
  const tools = { ffmpeg: "/usr/bin/ffmpeg", ffprobe: "/usr/bin/ffprobe" } as unknown as MediaTools;
  const file = (name: string, size = 250) => ({ path: `/d/1/${name}`, name, size });

  it("gives the byte parts of a file over the limit", async () => {
    expect((await planner()(file("disk.iso"), { chatId: 1, wants: {} }))?.map((p) => [p.name, p.offset, p.size])).toEqual([
      ["disk.iso.001", 0, 100],
      ["disk.iso.002", 100, 100],
      ["disk.iso.003", 200, 50],
    ]);
  });

  it("gives nothing when the file is prepared only once whole", async () => {
    const item = { chatId: 1, wants: {} };
    expect(await planner()(file("small.iso", 100), item)).toBeUndefined();
    expect(await planner()(file("disk.iso"), { chatId: 1, wants: { audioOnly: true } })).toBeUndefined();
    // A video cut into playable parts needs the whole file; with byte parts chosen, or as documents, it does not.
    expect(await planner({}, tools)(file("film.mp4"), item)).toBeUndefined();
    expect(await planner({ splitStyle: "bytes" }, tools)(file("film.mp4"), item)).toHaveLength(3);
    expect(await planner({ uploadAs: "document" }, tools)(file("film.mp4"), item)).toHaveLength(3);
    // Without ffmpeg nothing is cut: byte parts.
    expect(await planner()(file("film.mp4"), item)).toHaveLength(3);
  });

  it("gives a big file under the limit as it is, when it goes up as it came and not by path", async () => {
    const MB = 1024 * 1024;
    const item = { chatId: 1, wants: {} };
    const big = (name: string) => file(name, 20 * MB);
    expect(await planner({}, tools, 50 * MB)(big("disk.iso"), item)).toEqual([big("disk.iso")]);
    // Small files, a local server (it reads the whole file by path), media that may be remuxed: after the download.
    expect(await planner({}, tools, 50 * MB)(file("disk.iso", 15 * MB), item)).toBeUndefined();
    expect(await planner({}, tools, 50 * MB, true)(big("disk.iso"), item)).toBeUndefined();
    expect(await planner({}, tools, 50 * MB)(big("film.mkv"), item)).toBeUndefined();
    expect(await planner({ uploadAs: "document" }, tools, 50 * MB)(big("film.mkv"), item)).toEqual([big("film.mkv")]);
    // uploadWhileDownloading off: nothing before the file is whole.
    const off = createUploadPreparer({ limit: 100, split: true, early: false, disk: new DataDisk({ dir: tmpdir(), logger }), logger, settingsOf: settings() }).planEarly;
    expect(await off(file("disk.iso"), item)).toBeUndefined();
  });
});

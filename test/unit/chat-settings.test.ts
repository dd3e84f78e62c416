import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ChatSettings, asksBefore, nextChoice, qualityWanted, settingsDefaults } from "../../src/chats/chat-settings.ts";
import { renderSettings, settingButtonLabel } from "../../src/bot/views/settings-view.ts";
import { parseConfig } from "../../src/config.ts";
import { chatSettings, chosenChatSettings, updateChatSettings } from "../../src/db/chat-settings-repository.ts";
import type { Db } from "../../src/db/database.ts";
import { type TestDb, openTestDb } from "../support/test-db.ts";

const DEFAULTS: ChatSettings = { askBeforeDownload: "always", qualityCap: "best", uploadAs: "auto", splitStyle: "playable" };

describe("a chat's settings, stored", () => {
  let opened: TestDb;
  let db: Db;
  beforeEach(async () => {
    opened = await openTestDb("dlbot-settings-");
    db = opened.db;
  });
  afterEach(() => opened.close());

  it("are the defaults for a chat that never changed any", async () => {
    expect(await chatSettings(db, 7, DEFAULTS)).toEqual(DEFAULTS);
    expect(await chosenChatSettings(db, 7)).toEqual({});
  });

  it("merge what the chat chose over the defaults, setting by setting", async () => {
    await updateChatSettings(db, 7, { uploadAs: "document" }, 1000);
    await updateChatSettings(db, 7, { qualityCap: "720p" }, 2000);
    expect(await chosenChatSettings(db, 7)).toEqual({ uploadAs: "document", qualityCap: "720p" });
    expect(await chatSettings(db, 7, DEFAULTS)).toEqual({ ...DEFAULTS, uploadAs: "document", qualityCap: "720p" });
    // What the chat did not change follows the config, also once the config changes.
    const changedConfig: ChatSettings = { askBeforeDownload: "never", qualityCap: "480p", uploadAs: "auto", splitStyle: "bytes" };
    expect(await chatSettings(db, 7, changedConfig)).toEqual({ askBeforeDownload: "never", qualityCap: "720p", uploadAs: "document", splitStyle: "bytes" });
    expect((await sql`select chat_id, upload_as, quality_cap, ask_before_download, split_style, updated_at from chat_settings`.execute(db)).rows).toEqual([
      { chat_id: 7, upload_as: "document", quality_cap: "720p", ask_before_download: null, split_style: null, updated_at: 2000 },
    ]);
  });

  it("keep a choice equal to today's default: a later config change does not undo it", async () => {
    await updateChatSettings(db, 7, { splitStyle: "playable" }, 1000);
    expect(await chatSettings(db, 7, { ...DEFAULTS, splitStyle: "bytes" })).toMatchObject({ splitStyle: "playable" });
  });

  it("are each chat's own", async () => {
    await updateChatSettings(db, 7, { askBeforeDownload: "never", splitStyle: "bytes" }, 1000);
    await updateChatSettings(db, -1001, { askBeforeDownload: "torrents" }, 1000);
    expect(await chatSettings(db, 7, DEFAULTS)).toEqual({ ...DEFAULTS, askBeforeDownload: "never", splitStyle: "bytes" });
    expect(await chatSettings(db, -1001, DEFAULTS)).toEqual({ ...DEFAULTS, askBeforeDownload: "torrents" });
    expect(await chatSettings(db, 8, DEFAULTS)).toEqual(DEFAULTS);
  });

  it("refuse a value that is not a choice, and read one a newer version stored as the default", async () => {
    await expect(updateChatSettings(db, 7, { qualityCap: "4k" as never }, 1000)).rejects.toThrow(/qualityCap cannot be "4k"/);
    expect(await chosenChatSettings(db, 7)).toEqual({});
    await sql`insert into chat_settings (chat_id, quality_cap, upload_as, updated_at) values (7, '4k', 'document', 1)`.execute(db);
    expect(await chatSettings(db, 7, DEFAULTS)).toEqual({ ...DEFAULTS, uploadAs: "document" });
  });
});

describe("the settings' meaning (pure)", () => {
  it("take their defaults from the config", () => {
    const config = parseConfig({ botToken: "123:abc", allowedChatIds: [1] });
    expect(settingsDefaults(config)).toEqual(DEFAULTS);
    expect(settingsDefaults(parseConfig({ botToken: "123:abc", allowedChatIds: [1], uploadAs: "document", askBeforeDownload: "torrents", qualityCap: "audio", splitStyle: "bytes" }))).toEqual({
      askBeforeDownload: "torrents",
      qualityCap: "audio",
      uploadAs: "document",
      splitStyle: "bytes",
    });
    expect(() => parseConfig({ botToken: "123:abc", allowedChatIds: [1], qualityCap: "4k" })).toThrow(/"qualityCap": expected "best", "1080p", "720p", "480p" or "audio"/);
    expect(() => parseConfig({ botToken: "123:abc", allowedChatIds: [1], splitStyle: "parts" })).toThrow(/"splitStyle": expected "playable" or "bytes"/);
  });

  it("go round their choices, one press at a time", () => {
    expect(nextChoice("qualityCap", "best")).toBe("1080p");
    expect(nextChoice("qualityCap", "audio")).toBe("best");
    expect(nextChoice("askBeforeDownload", "torrents")).toBe("never");
    expect(nextChoice("uploadAs", "document")).toBe("auto");
    expect(nextChoice("splitStyle", "playable")).toBe("bytes");
  });

  it("say when to ask and which quality to take", () => {
    const ask = (askBeforeDownload: ChatSettings["askBeforeDownload"]) =>
      (["files", "quality", "entries"] as const).map((what) => asksBefore({ askBeforeDownload }, what));
    expect(ask("always")).toEqual([true, true, true]);
    expect(ask("torrents")).toEqual([true, false, false]);
    expect(ask("never")).toEqual([false, false, false]);
    expect(qualityWanted("best")).toEqual({ audioOnly: false, maxHeight: null });
    expect(qualityWanted("720p")).toEqual({ audioOnly: false, maxHeight: 720 });
    expect(qualityWanted("audio")).toEqual({ audioOnly: true });
  });
});

describe("the settings message (pure)", () => {
  it("names each setting's choice on its button and says what it does, the config's upload limit and split switch included", () => {
    const settings: ChatSettings = { askBeforeDownload: "torrents", qualityCap: "audio", uploadAs: "document", splitStyle: "bytes" };
    expect(["askBeforeDownload", "qualityCap", "uploadAs", "splitStyle"].map((k) => settingButtonLabel(k as keyof ChatSettings, settings))).toEqual([
      "❓ Ask before downloading: only torrents",
      "📺 Quality: audio only",
      "🎬 Videos and audio: as files",
      "✂️ Big files: byte parts",
    ]);
    const text = renderSettings(settings, { uploadLimitBytes: 2000 * 1024 * 1024, splitLargeFiles: false });
    expect(text.split("\n").slice(3)).toEqual([
      "❓ Ask before downloading: <b>only torrents</b> — the bot asks which files of a torrent that holds several; a video comes in the quality below.",
      "📺 Quality: <b>audio only</b> — only the audio of a video, when the bot does not ask.",
      "🎬 Videos and audio: <b>as files</b> — they go up as files, as they came.",
      "✂️ Big files: <b>byte parts</b> — a file over the upload limit (2.0 GB) goes in byte parts that join back into the original. Splitting is off in the bot's config, though: such files are refused.",
    ]);
  });
});

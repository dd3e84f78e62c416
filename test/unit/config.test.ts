import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig, parseConfig } from "../../src/config.ts";
import { ConfigError } from "../../src/errors.ts";

const minimal = { botToken: "123:abc-DEF_1", allowedChatIds: [42] };

describe("config", () => {
  it("fills in the documented defaults", () => {
    const c = parseConfig(minimal);
    expect(c).toMatchObject({
      apiRoot: "https://api.telegram.org",
      dataDir: "./data",
      maxFileSizeBytes: 2_147_483_648,
      uploadLimitBytes: 52_428_800,
      splitLargeFiles: true,
      progressIntervalMs: 5000,
      retryDelaysMs: [0, 120_000, 480_000],
      allowPrivateNetworks: false,
      uploadAs: "auto",
      noticeTtlMs: 60_000,
      crawlMaxItems: 50,
      torrent: { dht: true, lsd: true, natTraversal: true, metadataTimeoutMs: 180_000, seed: false },
    });
  });

  it("names the key and what was expected", () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ allowedChatIds: [1] }, /"botToken": expected the bot token/],
      [{ ...minimal, allowedChatIds: [] }, /"allowedChatIds": expected at least one chat id/],
      [{ ...minimal, uploadAs: "video" }, /"uploadAs": expected "auto" or "document"/],
      [{ ...minimal, torrent: { dht: "yes" } }, /"torrent.dht": expected true or false/],
      [{ ...minimal, maxFileSize: 1 }, /unknown key "maxFileSize"/],
      [{ ...minimal, apiRoot: "ftp://x" }, /"apiRoot"/],
      [{ ...minimal, crawlMaxItems: 0 }, /"crawlMaxItems": expected at least 1 file/],
      [{ ...minimal, splitLargeFiles: "yes" }, /"splitLargeFiles": expected true or false/],
      [{ ...minimal, uploadLimitBytes: -1 }, /"uploadLimitBytes": expected a positive number of bytes/],
      [{ ...minimal, botToken: "123456789:replace-with-your-token" }, /"botToken": still the example's placeholder/],
    ];
    for (const [raw, message] of cases) {
      expect(() => parseConfig(raw)).toThrow(message);
    }
  });

  it("takes 2000 MB uploads with a local Bot API server, 50 MB with the cloud, unless told otherwise", () => {
    const local = { ...minimal, apiRoot: "http://telegram-bot-api:8081", localBotApi: true };
    expect(parseConfig(local)).toMatchObject({ localBotApi: true, uploadLimitBytes: 2000 * 1024 * 1024, cloudApiRoot: "https://api.telegram.org" });
    expect(parseConfig({ ...local, uploadLimitBytes: 100 })).toMatchObject({ uploadLimitBytes: 100 });
    // The mode is never guessed from apiRoot: a loopback server is the cloud unless localBotApi says otherwise.
    expect(parseConfig({ ...minimal, apiRoot: "http://127.0.0.1:8081" })).toMatchObject({ localBotApi: false, uploadLimitBytes: 50 * 1024 * 1024 });
    expect(() => parseConfig({ ...minimal, localBotApi: true })).toThrow(
      /"apiRoot": localBotApi is on, so expected the local telegram-bot-api server's URL here/,
    );
  });

  it("lets BOT_TOKEN override the file and ignores // comment keys", () => {
    const c = parseConfig({ ...minimal, "// botToken": "doc" }, { BOT_TOKEN: "999:zzz" });
    expect(c.botToken).toBe("999:zzz");
  });

  it("says how to create a missing config file", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "cfg-"));
    const error = await loadConfig({}, dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/copy config\.example\.json to config\.json/);
  });

  it("reads CONFIG_FILE and accepts the shipped example once it has a real token", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "cfg-"));
    await writeFile(path.join(dir, "c.json"), JSON.stringify(minimal));
    expect((await loadConfig({ CONFIG_FILE: "c.json" }, dir)).allowedChatIds).toEqual([42]);
    const example = await loadConfig({ CONFIG_FILE: path.resolve("config.example.json"), BOT_TOKEN: "987:real-token" });
    expect(example).toMatchObject({ maxFileSizeBytes: 2_147_483_648, uploadLimitBytes: 52_428_800, splitLargeFiles: true });
    // Unchanged, it is refused before anything talks to Telegram.
    await expect(loadConfig({ CONFIG_FILE: path.resolve("config.example.json") })).rejects.toThrow(/"botToken": still the example's placeholder/);
  });

  it("defaults the admin chat to the first allowed chat and turns the speed floor on", () => {
    const config = parseConfig({ ...minimal, allowedChatIds: [7, 8] });
    expect(config).toMatchObject({ adminChatIds: [7], minSpeedBytesPerSec: 1024, speedWindowMs: 60_000, torrent: { maxFiles: 200, maxTrackers: 50 } });
    expect(parseConfig({ ...minimal, allowedChatIds: [7, 8], adminChatIds: [8] }).adminChatIds).toEqual([8]);
    expect(() => parseConfig({ ...minimal, minSpeedBytesPerSec: -1 })).toThrow(/"minSpeedBytesPerSec": expected 0 \(off\) or more bytes per second/);
  });
});

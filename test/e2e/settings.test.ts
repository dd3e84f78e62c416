import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { chosenChatSettings } from "../../src/db/chat-settings-repository.ts";
import type { RecordedCall } from "../support/bot-api-double.ts";
import { CHAT, Harness, STRANGER_CHAT, USER, deliveredFiles, isUpload, messageIdOf } from "../support/harness.ts";
import { joinedSha256, partNames } from "../support/parts.ts";
import { playableMp4 } from "../support/media.ts";

let h: Harness;
afterEach(async () => {
  await h?.close();
});

/** A second allowed chat. */
const OTHER = 1002;

/** The labels of a message's buttons, in order. */
function labels(messageId: number, chatId = CHAT): string[] {
  const markup = h.api.chat(chatId).find((m) => m.message_id === messageId)?.reply_markup;
  return (markup?.inline_keyboard.flat() ?? []).map((b) => b.text);
}

/** Presses the button whose label starts with `label` and resolves with the answer it got. */
async function press(messageId: number, label: string, chatId = CHAT): Promise<string | undefined> {
  const markup = h.api.chat(chatId).find((m) => m.message_id === messageId)?.reply_markup;
  const button = markup?.inline_keyboard.flat().find((b) => b.text.startsWith(label));
  if (!button || !("callback_data" in button)) throw new Error(`no button "${label}" on message ${messageId}: ${labels(messageId, chatId).join(" | ")}`);
  const id = h.api.pressButton(chatId, messageId, button.callback_data!, { fromId: USER }).callback_query!.id;
  const answer = await h.api.waitForCall((c) => c.method === "answerCallbackQuery" && c.params.callback_query_id === id);
  return answer.params.text as string | undefined;
}

/** Sends /settings in the chat and resolves with the menu message's id. */
async function openSettings(chatId = CHAT): Promise<number> {
  const since = h.api.nextSeq;
  h.send("/settings", chatId);
  return messageIdOf(await h.reply(since, chatId));
}

/** What the chat chose, as stored. */
const stored = (chatId = CHAT) => chosenChatSettings(h.app!.db, chatId);

/** The next successful upload into `chatId` after `since`. */
function uploadIn(chatId: number, since: number): Promise<RecordedCall> {
  return h.api.waitForCall((c) => isUpload(c) && c.response?.ok === true && c.params.chat_id === chatId, { since, timeoutMs: 30_000 });
}

const DEFAULT_LABELS = ["❓ Ask before downloading: always", "📺 Quality: best", "🎬 Videos and audio: playable", "✂️ Big files: playable parts"];

describe("/settings", () => {
  it("shows the chat's settings; a press stores the next choice and edits the menu in place", async () => {
    h = await Harness.create({ allowedChatIds: [CHAT, OTHER] });
    await h.start();
    const menu = await openSettings();
    expect(labels(menu)).toEqual(DEFAULT_LABELS);
    expect(h.textOf(menu)).toBe(
      [
        "⚙️ Settings of this chat",
        "Each press on a button moves it to its next choice; the next download uses it.",
        "",
        "❓ Ask before downloading: always — the bot asks which files of a torrent that holds several, which quality of a video offered in several, and which videos of a page that shows several.",
        "📺 Quality: best — the best that fits, when the bot does not ask.",
        "🎬 Videos and audio: playable — they go up as videos and audio that play in the chat.",
        "✂️ Big files: playable parts — a video or audio file over the upload limit (50.0 MB) goes in parts that each play; other files in byte parts.",
      ].join("\n"),
    );
    expect(await stored()).toEqual({});

    const messagesBefore = h.api.chat(CHAT).length;
    expect(await press(menu, "📺 Quality")).toBe("📺 Quality: up to 1080p, from the next download on");
    expect(await stored()).toEqual({ qualityCap: "1080p" });
    expect(labels(menu)[1]).toBe("📺 Quality: up to 1080p");
    expect(h.textOf(menu)).toContain("📺 Quality: up to 1080p — the best up to 1080p, when the bot does not ask.");

    expect(await press(menu, "❓ Ask")).toBe("❓ Ask before downloading: only torrents, from the next download on");
    expect(await press(menu, "❓ Ask")).toBe("❓ Ask before downloading: never, from the next download on");
    expect(await press(menu, "✂️ Big files")).toBe("✂️ Big files: byte parts, from the next download on");
    expect(await stored()).toEqual({ qualityCap: "1080p", askBeforeDownload: "never", splitStyle: "bytes" });
    expect(labels(menu)).toEqual(["❓ Ask before downloading: never", "📺 Quality: up to 1080p", "🎬 Videos and audio: playable", "✂️ Big files: byte parts"]);
    expect(h.textOf(menu)).toContain("❓ Ask before downloading: never — a torrent comes with every file that fits, a video in the quality below.");
    // Each quality in turn, and round to the first again.
    const qualities = [];
    for (let i = 0; i < 4; i++) qualities.push(await press(menu, "📺 Quality"));
    expect(qualities.map((q) => q?.replace(/^📺 Quality: (.*), from the next download on$/, "$1"))).toEqual(["up to 720p", "up to 480p", "audio only", "best"]);
    expect(await stored()).toMatchObject({ qualityCap: "best" });

    // Edited in place: no new message, every press answered, the other chat untouched.
    expect(h.api.chat(CHAT)).toHaveLength(messagesBefore);
    expect(h.api.callsOf("editMessageText").every((c) => c.params.message_id === menu)).toBe(true);
    expect(h.api.unansweredCallbackQueries()).toEqual([]);
    expect(await stored(OTHER)).toEqual({});
  });

  it('"as files" makes the next video a document in that chat only, and "playable" a video again', { timeout: 60_000 }, async () => {
    h = await Harness.create({ allowedChatIds: [CHAT, OTHER] });
    const clips = [71, 72, 73].map((variant) => h.files.addFile(`/v/clip${variant}.mp4`, playableMp4(variant), { contentType: "video/mp4" }));
    await h.start();
    const menu = await openSettings();
    expect(await press(menu, "🎬 Videos and audio")).toBe("🎬 Videos and audio: as files, from the next download on");
    expect(await stored()).toEqual({ uploadAs: "document" });

    let since = h.api.nextSeq;
    h.send(`/download ${clips[0]!.url}`);
    const asFile = await uploadIn(CHAT, since);
    expect([asFile.method, asFile.files.map((f) => f.sha256)]).toEqual(["sendDocument", [clips[0]!.sha256]]);

    // Another chat keeps the config's default.
    since = h.api.nextSeq;
    h.send(`/download ${clips[1]!.url}`, OTHER);
    const inOther = await uploadIn(OTHER, since);
    expect(inOther.method).toBe("sendVideo");
    expect(inOther.files.find((f) => f.filename === "clip72.mp4")?.sha256).toBe(clips[1]!.sha256);

    // Changed back, the next one plays again.
    expect(await press(menu, "🎬 Videos and audio")).toBe("🎬 Videos and audio: playable, from the next download on");
    since = h.api.nextSeq;
    h.send(`/download ${clips[2]!.url}`);
    expect((await uploadIn(CHAT, since)).method).toBe("sendVideo");
  });

  it('"byte parts" sends a video over the upload limit in byte parts; another chat still gets playable parts', { timeout: 90_000 }, async () => {
    const limit = 128 * 1024;
    h = await Harness.create({ allowedChatIds: [CHAT, OTHER], uploadLimitBytes: limit }, { maxUploadBytes: limit });
    const long = longVideo();
    const mine = h.files.addFile("/v/long.mp4", long, { contentType: "video/mp4" });
    const theirs = h.files.addFile("/v/theirs.mp4", long, { contentType: "video/mp4" });
    expect(mine.size).toBeGreaterThan(2 * limit);
    await h.start();
    const menu = await openSettings();
    expect(await press(menu, "✂️ Big files")).toBe("✂️ Big files: byte parts, from the next download on");
    expect(h.textOf(menu)).toContain("✂️ Big files: byte parts — a file over the upload limit (128 KB) goes in byte parts that join back into the original.");

    let since = h.api.nextSeq;
    h.send(`/download ${mine.url}`);
    const bytes = deliveredFiles(await uploadIn(CHAT, since));
    const count = Math.ceil(mine.size / limit);
    expect(bytes.map((p) => [p.filename, p.method])).toEqual(
      partNames("long.mp4", count).map((name) => [name, "sendDocument"]),
    );
    expect(await joinedSha256(bytes)).toBe(mine.sha256);

    since = h.api.nextSeq;
    h.send(`/download ${theirs.url}`, OTHER);
    const playable = deliveredFiles(await uploadIn(OTHER, since));
    expect(playable.length).toBeGreaterThanOrEqual(2);
    expect(playable.map((p) => [p.filename, p.method])).toEqual(playable.map((_, i) => [`theirs.part${i + 1}of${playable.length}.mp4`, "sendVideo"]));
    expect(playable.every((p) => p.size <= limit)).toBe(true);
  });

  it("a menu sent before a restart still works; one the settings changed under is brought up to date", async () => {
    h = await Harness.create();
    await h.start();
    const first = await openSettings();
    const second = await openSettings();
    await h.stopApp();
    await h.start();

    expect(await press(first, "🎬 Videos and audio")).toBe("🎬 Videos and audio: as files, from the next download on");
    expect(await stored()).toEqual({ uploadAs: "document" });
    expect(labels(first)[2]).toBe("🎬 Videos and audio: as files");

    // The second menu still shows "playable": its press is not taken as a change, the menu is redrawn.
    expect(labels(second)[2]).toBe("🎬 Videos and audio: playable");
    expect(await press(second, "🎬 Videos and audio")).toBe("The settings had changed: here they are now; press again");
    expect(await stored()).toEqual({ uploadAs: "document" });
    expect(labels(second)).toEqual(labels(first));
    expect(h.textOf(second)).toBe(h.textOf(first));
    // Now up to date, a press acts.
    expect(await press(second, "🎬 Videos and audio")).toBe("🎬 Videos and audio: playable, from the next download on");
    expect(await stored()).toEqual({ uploadAs: "auto" });

    // Made-up data in the menu's format, or another menu's, is answered and changes nothing.
    const forged = async (data: string) => {
      const id = h.api.pressButton(CHAT, second, data, { fromId: USER, force: true }).callback_query!.id;
      return (await h.api.waitForCall((c) => c.method === "answerCallbackQuery" && c.params.callback_query_id === id)).params.text;
    };
    expect(await forged("settings/9/0//h1")).toBe("The settings had changed: here they are now; press again");
    expect(await forged("settings/zz/0//h1")).toBe("Could not change the setting; try again");
    expect(await forged("gone/0/0//h1")).toBe("This button no longer works");
    expect(await stored()).toEqual({ uploadAs: "auto" });
    expect(h.api.unansweredCallbackQueries()).toEqual([]);
  });

  it("a chat sees and changes only its own settings; a stranger none", async () => {
    h = await Harness.create({ allowedChatIds: [CHAT, OTHER] });
    await h.start();
    const mine = await openSettings();
    await press(mine, "✂️ Big files");
    await press(mine, "❓ Ask");

    const theirs = await openSettings(OTHER);
    expect(labels(theirs, OTHER)).toEqual(DEFAULT_LABELS);
    expect(await press(theirs, "📺 Quality", OTHER)).toBe("📺 Quality: up to 1080p, from the next download on");
    expect(await stored(OTHER)).toEqual({ qualityCap: "1080p" });
    expect(await stored()).toEqual({ splitStyle: "bytes", askBeforeDownload: "torrents" });
    expect(labels(mine)).toEqual(["❓ Ask before downloading: only torrents", "📺 Quality: best", "🎬 Videos and audio: playable", "✂️ Big files: byte parts"]);

    // A chat that is not allowed gets the refusal, and a press with a menu's data changes nothing.
    const since = h.api.nextSeq;
    h.send("/settings", STRANGER_CHAT);
    const refusal = await h.reply(since, STRANGER_CHAT);
    expect(String(refusal.params.text)).toMatch(/only works in the chats it was set up for/);
    const data = h.api.chat(CHAT).find((m) => m.message_id === mine)!.reply_markup!.inline_keyboard[0]![0]! as { callback_data: string };
    const id = h.api.pressButton(STRANGER_CHAT, messageIdOf(refusal), data.callback_data, { force: true }).callback_query!.id;
    const answer = await h.api.waitForCall((c) => c.method === "answerCallbackQuery" && c.params.callback_query_id === id);
    expect(answer.params.text).toBe("Not allowed");
    expect(await stored(STRANGER_CHAT)).toEqual({});
    expect(await stored()).toEqual({ splitStyle: "bytes", askBeforeDownload: "torrents" });
  });
});

/** A real MP4 of 8 s with a keyframe every second (about 270 KB), which ffmpeg cuts into playable parts. */
function longVideo(): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), "dlbot-long-"));
  try {
    const file = path.join(dir, "long.mp4");
    execFileSync("ffmpeg", [
      "-v", "error", "-y",
      "-f", "lavfi", "-i", "testsrc=duration=8:size=320x240:rate=25",
      "-f", "lavfi", "-i", "sine=frequency=440:duration=8",
      "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-shortest", "-movflags", "+faststart", file,
    ], { stdio: "pipe" });
    return readFileSync(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

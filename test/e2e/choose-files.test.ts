import { afterEach, describe, expect, it } from "vitest";
import { listItems } from "../../src/db/item-repository.ts";
import type { ConfigInput } from "../../src/config.ts";
import type { RecordedCall } from "../support/bot-api-double.ts";
import { FileServer } from "../support/file-server.ts";
import { CHAT, Harness, USER, messageIdOf } from "../support/harness.ts";
import { TorrentSwarm } from "../support/torrent-swarm.ts";
import { playableMp4 } from "../support/media.ts";

let h: Harness | undefined;
let swarm: TorrentSwarm | undefined;
afterEach(async () => {
  await h?.close();
  await swarm?.stop();
  h = undefined;
  swarm = undefined;
});

const LOOPBACK = { dht: false, lsd: false, natTraversal: false };
const KB = 1024;

/** Four files of a season pack, seeded by a second webtorrent client on loopback. */
async function fourFiles() {
  swarm = await TorrentSwarm.start();
  return swarm.seed("pack", [
    { path: "pack/e01.mkv", bytes: FileServer.randomBytes(100 * KB, 401) },
    { path: "pack/e02.mkv", bytes: FileServer.randomBytes(400 * KB, 402) },
    { path: "pack/e03.mkv", bytes: FileServer.randomBytes(400 * KB, 403) },
    { path: "pack/notes.txt", bytes: FileServer.randomBytes(20 * KB, 404) },
  ], { pieceLength: 16 * KB });
}

async function world(overrides: Partial<ConfigInput> = {}): Promise<Harness> {
  h = await Harness.create({ torrent: LOOPBACK, ...overrides });
  return h;
}

/** The question the bot asks about a torrent's files (the message with the file toggles). */
async function question(since: number): Promise<RecordedCall> {
  return h!.api.waitForCall((c) => c.method === "sendMessage" && c.response?.ok === true && /holds 4 files: which should come\?/.test(String(c.params.text)), { since });
}

/** The button of the question (as it is now) whose text matches. */
function buttonOf(messageId: number, text: RegExp): string {
  const message = h!.api.chat(CHAT).find((m) => m.message_id === messageId)!;
  const button = message.reply_markup!.inline_keyboard.flat().find((b) => text.test(b.text));
  if (!button || !("callback_data" in button)) throw new Error(`no button ${text} in ${JSON.stringify(message.reply_markup)}`);
  return button.callback_data!;
}

/** Presses a button and waits until the bot answered the press. */
async function press(messageId: number, text: RegExp): Promise<void> {
  const since = h!.api.nextSeq;
  h!.api.pressButton(CHAT, messageId, buttonOf(messageId, text), { fromId: USER });
  await h!.api.waitForCall((c) => c.method === "answerCallbackQuery", { since });
}

describe("choosing the files of a torrent", () => {
  it("asks, downloads and uploads only the two files chosen, and the seeder serves less than half the torrent", { timeout: 60_000 }, async () => {
    const seeded = await fourFiles();
    await world();
    await h!.start();
    const since = h!.api.nextSeq;
    h!.send(`/torrent ${seeded.magnetURI}`);
    const asked = messageIdOf(await question(since));
    // Every file starts picked; two are taken out.
    expect(buttonOf(asked, /Start/)).toBeTruthy();
    expect(h!.api.chat(CHAT).find((m) => m.message_id === asked)!.reply_markup!.inline_keyboard.flat().map((b) => b.text)).toContain("▶️ Start (4 files, 920 KB)");
    await press(asked, /e02\.mkv/);
    await press(asked, /e03\.mkv/);
    expect(h!.api.chat(CHAT).find((m) => m.message_id === asked)!.reply_markup!.inline_keyboard.flat().map((b) => b.text)).toContain("▶️ Start (2 files, 120 KB)");
    // Nothing but the metadata was fetched while it waited: not one 16 KB piece.
    expect(seeded.torrent.uploaded).toBeLessThan(16 * KB);
    await press(asked, /Start/);

    await h!.api.waitForCall((c) => c.method === "editMessageText" && /delivered \(2 files/.test(String(c.params.text)), { since });
    const sent = h!.api.chat(CHAT).filter((m) => m.kind === "document");
    expect(sent.map((m) => [m.file_name, m.sha256]).sort()).toEqual([
      ["e01.mkv", seeded.files[0]!.sha256],
      ["notes.txt", seeded.files[3]!.sha256],
    ]);
    // The other files' pieces were never asked for (a piece shared at a file's edge at most).
    const total = seeded.files.reduce((sum, f) => sum + f.bytes.length, 0);
    expect(seeded.torrent.uploaded).toBeLessThan(total / 2);
    // The question says what was chosen, without buttons.
    const answered = h!.api.chat(CHAT).find((m) => m.message_id === asked)!;
    expect(answered.text).toBe(`✓ #1 pack: 2 files, 120 KB. Back in line.`);
    expect(answered.reply_markup).toBeUndefined();
    expect((await listItems(h!.app!.db))[0]).toMatchObject({ status: "completed", attempts: 0 });
  });

  it("lets the next item run while a torrent waits; chosen later, the torrent comes after it", { timeout: 60_000 }, async () => {
    const seeded = await fourFiles();
    await world();
    const file = h!.files.addFile("/next/clip.bin", FileServer.randomBytes(50 * KB, 405));
    await h!.start();
    const since = h!.api.nextSeq;
    h!.send(`/torrent ${seeded.magnetURI}`);
    const asked = messageIdOf(await question(since));
    h!.send(`/download ${file.url}`);
    const first = await h!.upload(since);
    expect(h!.api.chat(CHAT).find((m) => m.kind === "document")!.sha256).toBe(file.sha256);
    await h!.api.waitForCall((c) => c.method === "editMessageText" && /clip\.bin<\/b>: delivered/.test(String(c.params.text)), { since: first.seq });
    expect((await listItems(h!.app!.db)).map((i) => [i.id, i.status])).toEqual([
      [1, "choosing"],
      [2, "completed"],
    ]);
    await press(asked, /Videos only/);
    await press(asked, /Start/);
    await h!.api.waitForCall((c) => c.method === "editMessageText" && /delivered \(3 files/.test(String(c.params.text)), { since: first.seq });
    const names = h!.api.chat(CHAT).filter((m) => m.kind === "document").map((m) => m.file_name);
    expect(names).toEqual(["clip.bin", "e01.mkv", "e02.mkv", "e03.mkv"]);
  });

  it("goes on by itself with every file that fits when nobody chooses in time, and says so", { timeout: 60_000 }, async () => {
    const seeded = await fourFiles();
    await world({ chooseTimeoutMs: 1500 });
    await h!.start();
    const since = h!.api.nextSeq;
    h!.send(`/torrent ${seeded.magnetURI}`);
    const asked = messageIdOf(await question(since));
    await h!.api.waitForCall((c) => c.method === "editMessageText" && /delivered \(4 files/.test(String(c.params.text)), { since });
    expect(h!.api.chat(CHAT).find((m) => m.message_id === asked)!.text).toBe("⏱ #1 pack: nobody chose in time, so 4 files, 920 KB come. Back in line.");
    expect(h!.api.chat(CHAT).filter((m) => m.kind === "document")).toHaveLength(4);
  });

  it("keeps the question and its draft working across a restart", { timeout: 60_000 }, async () => {
    const seeded = await fourFiles();
    await world();
    await h!.start();
    const since = h!.api.nextSeq;
    h!.send(`/torrent ${seeded.magnetURI}`);
    const asked = messageIdOf(await question(since));
    await press(asked, /e01\.mkv/);
    await h!.stopApp();
    await h!.start();
    // The draft survived: e01 is still out.
    expect(h!.api.chat(CHAT).find((m) => m.message_id === asked)!.reply_markup!.inline_keyboard.flat().map((b) => b.text)).toContain("▶️ Start (3 files, 820 KB)");
    await press(asked, /notes\.txt/);
    await press(asked, /Start/);
    await h!.api.waitForCall((c) => c.method === "editMessageText" && /delivered \(2 files/.test(String(c.params.text)), { since });
    expect(h!.api.chat(CHAT).filter((m) => m.kind === "document").map((m) => m.file_name).sort()).toEqual(["e02.mkv", "e03.mkv"]);
  });

  it("a single-file torrent never asks, even when asking is on", { timeout: 60_000 }, async () => {
    swarm = await TorrentSwarm.start();
    const single = await swarm.seed("solo.bin", [{ path: "solo.bin", bytes: FileServer.randomBytes(50 * KB, 406) }]);
    await world();
    await h!.start();
    const since = h!.api.nextSeq;
    h!.send(`/torrent ${single.magnetURI}`);
    expect((await h!.upload(since)).files[0]!.sha256).toBe(single.files[0]!.sha256);
    expect(h!.api.calls.some((c) => /which should come/.test(String(c.params.text)))).toBe(false);
    expect((await listItems(h!.app!.db))[0]).toMatchObject({ choiceOffer: null });
  });

  it("never asks with chooseTimeoutMs 0", { timeout: 60_000 }, async () => {
    const seeded = await fourFiles();
    await world({ chooseTimeoutMs: 0 });
    await h!.start();
    const since = h!.api.nextSeq;
    h!.send(`/torrent ${seeded.magnetURI}`);
    await h!.api.waitForCall((c) => c.method === "editMessageText" && /delivered \(4 files/.test(String(c.params.text)), { since });
    expect(h!.api.calls.some((c) => /which should come/.test(String(c.params.text)))).toBe(false);
  });

  it("/settings 'never ask' and 'videos as files': the next torrent and video go without a question, the video as a document", { timeout: 60_000 }, async () => {
    const seeded = await fourFiles();
    await world();
    const video = h!.files.addFile("/v/clip.mp4", playableMp4(7));
    await h!.start();
    let since = h!.api.nextSeq;
    h!.send("/settings");
    const menu = messageIdOf(await h!.reply(since));
    await press(menu, /^❓ Ask before downloading: always/);
    await press(menu, /^❓ Ask before downloading: only torrents/);
    await press(menu, /^🎬 Videos and audio: playable/);
    expect(h!.api.chat(CHAT).find((m) => m.message_id === menu)!.reply_markup!.inline_keyboard.flat().map((b) => b.text)).toEqual(
      expect.arrayContaining(["❓ Ask before downloading: never", "🎬 Videos and audio: as files"]),
    );
    since = h!.api.nextSeq;
    h!.send(`/torrent ${seeded.magnetURI}`);
    h!.send(`/download ${video.url}`);
    await h!.api.waitForCall((c) => c.method === "editMessageText" && /clip\.mp4<\/b>: delivered/.test(String(c.params.text)), { since });
    expect(h!.api.calls.some((c) => c.seq >= since && /which should come/.test(String(c.params.text)))).toBe(false);
    const sent = h!.api.chat(CHAT).filter((m) => m.kind === "document" || m.kind === "video");
    expect(sent.map((m) => [m.kind, m.file_name])).toEqual([
      ["document", "e01.mkv"],
      ["document", "e02.mkv"],
      ["document", "e03.mkv"],
      ["document", "notes.txt"],
      ["document", "clip.mp4"],
    ]);
  });

  it("'/torrent <link> all' takes every file that fits without asking", { timeout: 60_000 }, async () => {
    const seeded = await fourFiles();
    await world();
    await h!.start();
    const since = h!.api.nextSeq;
    h!.send(`/torrent ${seeded.magnetURI} all`);
    await h!.api.waitForCall((c) => c.method === "editMessageText" && /delivered \(4 files/.test(String(c.params.text)), { since });
    expect(h!.api.calls.some((c) => /which should come/.test(String(c.params.text)))).toBe(false);
    expect((await listItems(h!.app!.db))[0]).toMatchObject({ status: "completed", wants: { allFiles: true } });
  });

  it("/cancel of a torrent that waits for a choice cancels it, and its question says so without buttons", { timeout: 60_000 }, async () => {
    const seeded = await fourFiles();
    await world();
    await h!.start();
    const since = h!.api.nextSeq;
    h!.send(`/torrent ${seeded.magnetURI}`);
    const asked = messageIdOf(await question(since));
    h!.send("/cancel 1");
    await h!.api.waitForCall((c) => c.method === "editMessageText" && c.params.message_id === asked && /cancelled/i.test(String(c.params.text)), { since });
    const message = h!.api.chat(CHAT).find((m) => m.message_id === asked)!;
    expect(message.reply_markup).toBeUndefined();
    expect((await listItems(h!.app!.db))[0]).toMatchObject({ status: "cancelled" });
  });
});

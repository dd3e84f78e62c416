import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { listItems } from "../../src/db/item-repository.ts";
import { BotApiDouble } from "../support/bot-api-double.ts";
import { ROOT, buildIfStale, endTest, startProcess, writeConfig } from "../support/bot-process.ts";
import { FileServer } from "../support/file-server.ts";
import { CHAT, Harness, USER, messageIdOf } from "../support/harness.ts";
import { playableMp4 } from "../support/media.ts";
import { TorrentSwarm } from "../support/torrent-swarm.ts";

const MB = 1024 * 1024;
let h: Harness | undefined;
let swarm: TorrentSwarm | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  h = await endTest(children, h);
  await swarm?.stop();
  swarm = undefined;
});
beforeAll(() => buildIfStale());

/** The bot and a double answering as `telegram-bot-api --local` does, on one disk. */
async function localWorld(overrides: Parameters<typeof Harness.create>[0] = {}, roots?: string[]): Promise<Harness> {
  const world = await Harness.create({ localBotApi: true, ...overrides }, { localMode: true, ...(roots ? { localRoots: roots } : {}) });
  // The admin chat has started the bot: the start's check message can reach it.
  world.api.addChat(CHAT);
  return world;
}

/**
 * A real, playable MP4 padded to `size` with a trailing `free` box: players and ffprobe skip such
 * boxes, so it stays a video Telegram plays, without encoding 120 MB of picture.
 */
function bigPlayableMp4(size: number): Buffer {
  const video = playableMp4(4);
  const box = Buffer.alloc(size - video.length);
  box.writeUInt32BE(box.length, 0);
  box.write("free", 4, "latin1");
  FileServer.randomBytes(box.length - 8, 77).copy(box, 8);
  return Buffer.concat([video, box]);
}

/** A .torrent of `size` bytes: the seeded torrent with a long comment, its info hash unchanged. */
function paddedTorrent(torrentFile: Buffer, size: number): Buffer {
  const head = Buffer.from("d7:comment");
  // The comment takes the place of the dict's opening "d", which `head` brings back.
  const room = size - (torrentFile.length - 1) - head.length;
  const length = room - String(room).length - 1;
  return Buffer.concat([head, Buffer.from(`${length}:`), Buffer.alloc(length, "x"), torrentFile.subarray(1)]);
}

describe("with a local Bot API server (localBotApi)", () => {
  it("sends a 120 MB video and a 120 MB file whole, by path: no byte in the request, the same bytes read", { timeout: 120_000 }, async () => {
    h = await localWorld();
    const video = h.files.addFile("/big/talk.mp4", bigPlayableMp4(120 * MB));
    const file = h.files.addFile("/big/disk.img", FileServer.randomBytes(120 * MB, 311));
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${video.url}`);
    h.send(`/download ${file.url}`);
    const first = await h.upload(since);
    const second = await h.upload(first.seq + 1);

    expect([first.method, second.method]).toEqual(["sendVideo", "sendDocument"]);
    for (const call of [first, second]) {
      // No multipart body: the request names the file, the server reads it.
      expect(call.files).toEqual([]);
      const named = String(call.method === "sendVideo" ? call.params.video : call.params.document);
      expect(named).toMatch(/^file:\/\/\//);
      expect(path.isAbsolute(new URL(named).pathname)).toBe(true);
    }
    // The video plays: its thumbnail went by path too, with what ffprobe read.
    expect(first.params).toMatchObject({ width: 160, height: 90, supports_streaming: true });
    expect(String(first.params.thumbnail)).toMatch(/^file:\/\/\/.*\.jpg$/);

    const sent = h.api.chat(CHAT).filter((m) => !m.deleted && (m.kind === "video" || m.kind === "document"));
    expect(sent.map((m) => [m.kind, m.file_name, m.file_size, m.sha256])).toEqual([
      ["video", "talk.mp4", 120 * MB, video.sha256],
      ["document", "disk.img", 120 * MB, file.sha256],
    ]);
    // The paths the server read were the bot's own downloads, inside its dataDir.
    for (const m of sent) expect(m.localPath!.startsWith(h.dataDir + path.sep)).toBe(true);
    await h.api.waitForCall((c) => c.method === "editMessageText" && /✅ <b>disk\.img<\/b>: delivered/.test(String(c.params.text)), { since: second.seq });
    expect((await listItems(h.app!.db)).map((i) => i.status)).toEqual(["completed", "completed"]);
    // At start the bot proved the server reads its folder: one silent message, deleted at once.
    const check = h.api.callsOf("sendDocument").find((c) => /local-bot-api-check/.test(String(c.params.document)))!;
    expect(check.params).toMatchObject({ chat_id: CHAT, disable_notification: true });
    expect(h.api.callsOf("deleteMessage").map((c) => c.params.message_id)).toContain(messageIdOf(check));
  });

  it("reads a 30 MB .torrent sent to the chat from the absolute path the server gives, and downloads it", { timeout: 60_000 }, async () => {
    swarm = await TorrentSwarm.start();
    const seeded = await swarm.seed("pack.bin", [{ path: "pack.bin", bytes: FileServer.randomBytes(300_000, 312) }]);
    h = await localWorld({ torrent: { dht: false, lsd: false, natTraversal: false } });
    await h.start();
    const since = h.api.nextSeq;
    const big = paddedTorrent(seeded.torrentFile, 30 * MB);
    expect(big.length).toBe(30 * MB);
    h.api.sendDocument(CHAT, { bytes: big, fileName: "pack.torrent" }, { fromId: USER });

    const upload = await h.upload(since);
    expect(h.api.chat(CHAT).find((m) => m.kind === "document" && m.file_name === "pack.bin")?.sha256).toBe(seeded.files[0]!.sha256);
    expect(upload.files).toEqual([]);
    // getFile answered with an absolute path, and nothing was fetched over HTTP from /file/.
    const getFile = h.api.callsOf("getFile")[0]!;
    expect(path.isAbsolute((getFile.response as { result: { file_path: string } }).result.file_path)).toBe(true);
    expect(h.api.fileDownloads).toEqual([]);
    await h.api.waitForCall((c) => c.method === "editMessageText" && /✅ <b>pack\.bin<\/b>: delivered/.test(String(c.params.text)), { since: upload.seq });
    const [item] = await listItems(h.app!.db);
    expect(item).toMatchObject({ sourceKind: "torrent", status: "completed" });
  });

  it("does not start when the server cannot read dataDir: one line, exit code 1", { timeout: 30_000 }, async () => {
    // The server sees only its own folder, as a container without the shared volume would.
    const elsewhere = await mkdtemp(path.join(tmpdir(), "server-only-"));
    try {
      h = await localWorld({}, [elsewhere]);
      const config = await writeConfig(h, { logLevel: "silent" });
      const running = startProcess({ CONFIG_FILE: config });
      children.push(running.child);
      expect((await running.exited).code).toBe(1);
      expect(running.stderr()).toBe(
        `Could not start: The local Bot API server cannot read the bot's dataDir ${h.dataDir} (Bad Request: realpath failed for ${path.join(h.dataDir, ".local-bot-api-check.txt")}): mount the same volume at the same path in both, and run both as the same user (compose.yaml does).\n`,
      );
      // It never began polling, so no update was taken from anyone.
      expect(h.api.callsOf("getUpdates")).toEqual([]);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it("does not start against a server that is not in local mode, saying what to change", { timeout: 30_000 }, async () => {
    h = await Harness.create({ localBotApi: true });
    h.api.addChat(CHAT);
    const config = await writeConfig(h, { logLevel: "silent" });
    const running = startProcess({ CONFIG_FILE: config });
    children.push(running.child);
    expect((await running.exited).code).toBe(1);
    expect(running.stderr()).toMatch(/^Could not start: apiRoot does not take files by path \(Bad Request: wrong remote file identifier specified: Wrong character in the string\): with localBotApi, apiRoot must be a telegram-bot-api server started with --local/);
  });
});

describe("npm run logout", () => {
  it("calls logOut once on the configured cloud server and says what it did", { timeout: 30_000 }, async () => {
    const cloud = await BotApiDouble.start();
    try {
      h = await localWorld({ cloudApiRoot: cloud.apiRoot });
      const config = await writeConfig(h);
      const child = spawn(process.execPath, ["dist/src/logout.js"], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? "", CONFIG_FILE: config },
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(child);
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      expect(code).toBe(0);
      expect(cloud.calls.map((c) => c.method)).toEqual(["logOut"]);
      // The local server is not asked anything: only the cloud's session ends.
      expect(h.api.calls).toEqual([]);
      expect(out).toBe(
        `Logged the bot out of the cloud Bot API at ${cloud.apiRoot}: start the local Bot API server and the bot now (localBotApi: true). The cloud takes this bot back only after 10 minutes.\n`,
      );
      expect(out).not.toContain(h.api.token);
    } finally {
      await cloud.stop();
    }
  });
});

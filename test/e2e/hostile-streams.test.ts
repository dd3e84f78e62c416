import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { describeReason } from "../../src/bot/views/error-view.ts";
import { listItems } from "../../src/db/item-repository.ts";
import { createLogger } from "../../src/logger.ts";
import { readProbe } from "../../src/tools/ffprobe.ts";
import { GuardedProxy } from "../../src/net/guarded-proxy.ts";
import { moovFirst } from "../../src/media/prepare-upload.ts";
import { boxesInOrder } from "../../src/sources/stream/stream-join.ts";
import { Canary } from "../support/canary.ts";
import { CHAT, Harness } from "../support/harness.ts";

/**
 * Hostile playlists against the bot's own stream fetching, with the private-network guard on:
 * only the page's server (127.0.0.1) is trusted, and a canary on 127.0.0.2 must never see a
 * connection or a datagram, whatever the playlist names.
 */
const ffmpeg = (cwd: string, ...args: string[]) => execFileSync("ffmpeg", ["-v", "error", "-y", ...args], { cwd, stdio: "pipe" });
const probeFile = (file: string) =>
  readProbe(JSON.parse(execFileSync("ffprobe", ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", file]).toString()));

let dir: string;
let h: Harness | undefined;
let canary: Canary;
const HLS = "application/vnd.apple.mpegurl";

beforeAll(async () => {
  canary = await Canary.start();
  dir = mkdtempSync(path.join(tmpdir(), "dlbot-hostile-"));
  for (const name of ["plain", "aes", "fast"]) mkdirSync(path.join(dir, name));
  const source = ["-f", "lavfi", "-i", "testsrc=duration=6:size=320x180:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:duration=6",
    "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-shortest", "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod"];
  ffmpeg(path.join(dir, "plain"), ...source, "-hls_segment_filename", "s_%03d.ts", "index.m3u8");
  // AES-128: the key is served beside the segments; the playlist names it by URL.
  writeFileSync(path.join(dir, "aes", "k.key"), Buffer.from("00112233445566778899aabbccddeeff", "hex"));
  writeFileSync(path.join(dir, "aes", "keyinfo"), `k.key\n${path.join(dir, "aes", "k.key")}\n`);
  ffmpeg(path.join(dir, "aes"), ...source, "-hls_key_info_file", "keyinfo", "-hls_segment_filename", "e_%03d.ts", "index.m3u8");
  // 4000 frames a second, each its own size: an index far bigger than the room a 6 s stream gets.
  ffmpeg(path.join(dir, "fast"), "-f", "lavfi", "-i", "testsrc=duration=6:size=32x32:rate=4000,noise=alls=30:allf=t",
    "-c:v", "libx264", "-preset", "ultrafast", "-g", "4000", "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod", "-hls_segment_filename", "f_%03d.ts", "index.m3u8");
});

afterAll(async () => {
  await canary.stop();
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await h?.close();
  h = undefined;
  // Nothing any test did may have reached the canary.
  expect(canary.hits).toEqual([]);
});

function serve(harness: Harness, folder: string, prefix: string): void {
  for (const name of readdirSync(folder)) {
    const type = name.endsWith(".m3u8") ? HLS : "application/octet-stream";
    harness.files.addFile(`${prefix}/${name}`, readFileSync(path.join(folder, name)), { contentType: type });
  }
}

/** The plain playlist with its segment lines replaced by `uri(name)`. */
function playlistWith(uri: (segment: string) => string): Buffer {
  return Buffer.from(readFileSync(path.join(dir, "plain", "index.m3u8"), "utf8").replace(/^(s_\d+\.ts)$/gm, (m) => uri(m)));
}

/** The guard on, only the file server's 127.0.0.1 trusted; `canary.test` is the canary's address. */
async function guarded(overrides: Parameters<typeof Harness.create>[0] = {}): Promise<Harness> {
  const harness = await Harness.create({ allowPrivateNetworks: false, retryDelaysMs: [], ...overrides });
  await harness.start({
    trustedAddresses: ["127.0.0.1"],
    resolve: async (name) => (name === "canary.test" ? [{ address: canary.host, family: 4 }] : [{ address: "127.0.0.1", family: 4 }]),
  });
  return harness;
}

async function itemsOf(harness: Harness) {
  return harness.withDb((db) => listItems(db, { chatId: CHAT }));
}

describe("hostile streams", () => {
  it("refuses a segment on port 99999 with one line; the bot lives on, and after a restart", { timeout: 60_000 }, async () => {
    h = await guarded();
    h.files.addFile("/bad/port.m3u8", playlistWith(() => "https://files.test:99999/s.ts"), { contentType: HLS });
    let since = h.api.nextSeq;
    h.send(`/download ${h.files.baseUrl}/bad/port.m3u8`);
    const failure = await h.reply(since, CHAT, /failed/);
    expect(String(failure.params.text)).toMatch(/names an address that is not valid/);
    expect(await itemsOf(h)).toMatchObject([{ status: "failed", errorCode: "NO_MEDIA" }]);
    // A restart finds nothing to trip over, and the next link is delivered.
    await h.stopApp();
    await h.start({ trustedAddresses: ["127.0.0.1"] });
    const good = h.files.addFile("/ok.bin", Buffer.from("still alive"));
    since = h.api.nextSeq;
    h.send(`/download ${good.url}`);
    const upload = await h.upload(since);
    expect(createHash("sha256").update(readFileSync(upload.files[0]!.path)).digest("hex")).toBe(good.sha256);
  });

  it("the guarded proxy answers CONNECT to port 99999 (or no port) with 400 and keeps running", { timeout: 20_000 }, async () => {
    const logger = createLogger({ level: "silent", secrets: [] });
    const proxy = new GuardedProxy({ allowPrivate: false, trusted: ["127.0.0.1"] }, logger);
    await proxy.start();
    try {
      const url = new URL(proxy.url);
      const auth = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64");
      const ask = (target: string) =>
        new Promise<string>((resolve, reject) => {
          const socket = connect(Number(url.port), "127.0.0.1", () => socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`));
          let answer = "";
          socket.on("data", (d) => (answer += d.toString()));
          socket.on("close", () => resolve(answer.split("\r\n")[0]!));
          socket.on("error", reject);
        });
      expect(await ask("files.test:99999")).toBe("HTTP/1.1 400 Bad Request");
      expect(await ask("127.0.0.1:0")).toBe("HTTP/1.1 400 Bad Request");
      expect(await ask("[::1:99")).toBe("HTTP/1.1 400 Bad Request");
      expect(await ask(`${canary.host}:${canary.tcpPort}`)).toBe("HTTP/1.1 403 Forbidden");
      // Still serving after all of that.
      expect(await ask("files.test:99999")).toBe("HTTP/1.1 400 Bad Request");
    } finally {
      await proxy.stop();
    }
  });

  it.each([
    ["httpproxy", () => `httpproxy://${canary.host}:${canary.tcpPort}/k.ts`],
    ["tcp", () => `tcp://${canary.host}:${canary.tcpPort}`],
    ["udp", () => `udp://${canary.host}:${canary.udpPort}`],
    ["file", () => "file:///etc/passwd"],
  ])("refuses %s:// segments without opening anything", { timeout: 30_000 }, async (scheme, uri) => {
    h = await guarded();
    h.files.addFile("/bad/list.m3u8", playlistWith(uri), { contentType: HLS });
    const since = h.api.nextSeq;
    h.send(`/download ${h.files.baseUrl}/bad/list.m3u8`);
    const failure = await h.reply(since, CHAT, /failed/);
    expect(String(failure.params.text)).toContain(`points at a ${scheme} address; only http and https streams are downloaded`);
    expect(h.uploads()).toEqual([]);
  });

  it("keeps to the guard with no_proxy=* in the bot's environment", { timeout: 30_000 }, async () => {
    const saved = { no_proxy: process.env.no_proxy, NO_PROXY: process.env.NO_PROXY };
    process.env.no_proxy = "*";
    process.env.NO_PROXY = "*";
    try {
      h = await guarded();
      h.files.addFile("/bad/canary.m3u8", playlistWith((s) => `http://canary.test:${canary.tcpPort}/${s}`), { contentType: HLS });
      const since = h.api.nextSeq;
      h.send(`/download ${h.files.baseUrl}/bad/canary.m3u8`);
      const failure = await h.reply(since, CHAT, /failed/);
      expect(String(failure.params.text)).toMatch(/canary\.test \(127\.0\.0\.2\) is on a private or local network/);
      expect(h.uploads()).toEqual([]);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it("refuses a live playlist (no #EXT-X-ENDLIST) without fetching a segment", { timeout: 30_000 }, async () => {
    h = await guarded();
    serve(h, path.join(dir, "plain"), "/live");
    const live = playlistWith((s) => s).toString().replace("#EXT-X-ENDLIST\n", "").replace("#EXT-X-PLAYLIST-TYPE:VOD\n", "");
    expect(live).not.toContain("ENDLIST");
    h.files.addFile("/live/index.m3u8", Buffer.from(live), { contentType: HLS });
    const since = h.api.nextSeq;
    h.send(`/download ${h.files.baseUrl}/live/index.m3u8`);
    const failure = await h.reply(since, CHAT, /failed/);
    expect(String(failure.params.text)).toMatch(/this is a live stream, which the bot does not record/);
    expect(h.files.requests.some((r) => r.path.endsWith(".ts"))).toBe(false);
  });

  it("decrypts an AES-128 stream with the key it fetched itself", { timeout: 30_000 }, async () => {
    h = await guarded();
    serve(h, path.join(dir, "aes"), "/aes");
    const since = h.api.nextSeq;
    h.send(`/download ${h.files.baseUrl}/aes/index.m3u8`);
    const upload = await h.upload(since);
    const info = probeFile(upload.files.find((f) => f.filename.endsWith(".mp4"))!.path);
    expect(info).toMatchObject({ video: { codec: "h264", width: 320 }, audio: { codec: "aac" } });
    expect(Math.abs(info.duration - 6)).toBeLessThanOrEqual(1);
    expect(h.files.requests.filter((r) => r.path === "/aes/k.key")).toHaveLength(1);
  });

  it("fetches a stream's segments several at once, as many as connectionsPerDownload", { timeout: 30_000 }, async () => {
    h = await guarded({ connectionsPerDownload: 2 });
    serve(h, path.join(dir, "plain"), "/par");
    // The first two hold their bytes: the third can only start once one of them ends.
    for (const name of ["s_000.ts", "s_001.ts"]) h.files.fault(`/par/${name}`, { kind: "stall", afterBytes: 1000, times: 1 });
    const since = h.api.nextSeq;
    h.send(`/download ${h.files.baseUrl}/par/index.m3u8`);
    await vi.waitFor(() => expect(h!.files.requests.filter((r) => r.state === "stalled").map((r) => r.path).sort()).toEqual(["/par/s_000.ts", "/par/s_001.ts"]), { timeout: 15_000 });
    expect(h.files.requests.some((r) => r.path === "/par/s_002.ts")).toBe(false);
    h.files.releaseStalls();
    const upload = await h.upload(since);
    expect(Math.abs(probeFile(upload.files.find((f) => f.filename.endsWith(".mp4"))!.path).duration - 6)).toBeLessThanOrEqual(1);
    expect(h.files.requests.filter((r) => r.path.endsWith(".ts")).map((r) => r.path).sort()).toEqual(["/par/s_000.ts", "/par/s_001.ts", "/par/s_002.ts"]);
  });

  it("a stream whose index outgrows the room kept for it still comes whole, index first", { timeout: 60_000 }, async () => {
    h = await guarded();
    serve(h, path.join(dir, "fast"), "/fast");
    const since = h.api.nextSeq;
    h.send(`/download ${h.files.baseUrl}/fast/index.m3u8`);
    const upload = await h.upload(since);
    const video = upload.files.find((f) => f.filename.endsWith(".mp4"))!.path;
    const frames = execFileSync("ffprobe", ["-v", "error", "-count_packets", "-select_streams", "v:0", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", video]).toString().trim();
    expect(Number(frames)).toBe(24_000);
    expect(await boxesInOrder(video)).toBe(true);
    expect(await moovFirst(video)).toBe(true);
  });

  it("a retry fetches only the segments it lacks", { timeout: 30_000 }, async () => {
    h = await guarded({ retryDelaysMs: [0], stallTimeoutMs: 2500, connectionsPerDownload: 1 });
    serve(h, path.join(dir, "plain"), "/hls");
    // The last segment stalls once: the first attempt fails as STALLED with two segments stored.
    h.files.fault("/hls/s_002.ts", { kind: "stall", afterBytes: 1000, times: 1 });
    const since = h.api.nextSeq;
    h.send(`/download ${h.files.baseUrl}/hls/index.m3u8`);
    const upload = await h.upload(since);
    const info = probeFile(upload.files.find((f) => f.filename.endsWith(".mp4"))!.path);
    expect(Math.abs(info.duration - 6)).toBeLessThanOrEqual(1);
    const fetched = (p: string) => h!.files.requests.filter((r) => r.path === p).length;
    expect([fetched("/hls/s_000.ts"), fetched("/hls/s_001.ts"), fetched("/hls/s_002.ts")]).toEqual([1, 1, 2]);
    h.files.releaseStalls();
  });

  it("fails a trickling download within its speed window, and the retry resumes from its bytes", { timeout: 30_000 }, async () => {
    h = await guarded({ retryDelaysMs: [0], stallTimeoutMs: 30_000, minSpeedBytesPerSec: 4000, speedWindowMs: 1500, connectionsPerDownload: 1 });
    const body = Buffer.alloc(64 * 1024, 7);
    const file = h.files.addFile("/slow.bin", body);
    // A byte every now and then: never a stall, far under the floor.
    h.files.throttle("/slow.bin", 300);
    const since = h.api.nextSeq;
    const started = Date.now();
    h.send(`/download ${file.url}`);
    // The first attempt failed on the speed floor, long before any stall timer would.
    await h.api.waitForCall((c) => /attempt 2 of 2/.test(String(c.params.text ?? "")), { since });
    expect(Date.now() - started).toBeLessThan(15_000);
    const items = await itemsOf(h);
    expect(items).toMatchObject([{ errorCode: "TOO_SLOW" }]);
    expect(describeReason(items[0]!.lastError!)).toBe("the server sent less than 3.9 KB/s for 2 s.");
    h.files.throttle("/slow.bin", null);
    const upload = await h.upload(since);
    expect(createHash("sha256").update(readFileSync(upload.files[0]!.path)).digest("hex")).toBe(file.sha256);
    // The retry asked only for what the first attempt did not get.
    expect(h.files.requests.filter((r) => r.path === "/slow.bin").at(-1)?.range).toMatch(/^bytes=[1-9]\d*-$/);
  });
});

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { renderNotice } from "../../src/bot/views/notice-view.ts";
import { describeReason } from "../../src/bot/views/error-view.ts";
import type { AppError } from "../../src/errors.ts";
import { describe, expect, it } from "vitest";
import { isTorrentDocument } from "../../src/bot/features/torrent.ts";
import { EventEmitter } from "node:events";
import type { Torrent } from "webtorrent";
import { filterReachableUrls, limitRequests, limitTrackers, peerBlocklist, webTorrentOptions } from "../../src/sources/torrent/torrent-client.ts";
import {
  allTooLargeError,
  buildMagnet,
  fileCount,
  infoHashOfMagnet,
  isPaddingAttr,
  selectFiles,
  skippedFiles,
  torrentCaption,
  torrentDiskPaths,
  tooManyFilesError,
  type TorrentEntry,
} from "../../src/sources/torrent/torrent-files.ts";
import { parseMagnet } from "../../src/sources/torrent/torrent-meta.ts";
import { pieceTargets, safeStore } from "../../src/sources/torrent/torrent-store.ts";
import { createTrackerDispatcher } from "../../src/sources/torrent/tracker-http.ts";
import { Canary } from "../support/canary.ts";

const ROOT = path.resolve("/data/downloads/7");
const HASH = "0123456789abcdef0123456789abcdef01234567";

describe("torrentDiskPaths", () => {
  const inside = (p: string) => p.startsWith(ROOT + path.sep);

  it("keeps every path below the item's directory, whatever the metadata says", () => {
    const paths = torrentDiskPaths(ROOT, ["../../x", "/etc/passwd", "a/../../b", "..", "", "./.", "~/.ssh/id"]);
    expect(paths).toEqual([
      path.join(ROOT, "x"),
      path.join(ROOT, "etc", "passwd"),
      path.join(ROOT, "a", "b"),
      path.join(ROOT, "file-3"),
      path.join(ROOT, "file-4"),
      path.join(ROOT, "file-5"),
      path.join(ROOT, "~", "ssh", "id"),
    ]);
    for (const p of paths) expect(inside(p)).toBe(true);
  });

  it("makes odd names safe: separators, device names, control characters, leading dots", () => {
    const paths = torrentDiskPaths(ROOT, ["album/CON", "album/a:b?.txt", "album/tab\there\u0000.bin", "album/..hidden", "nul.txt"]);
    expect(paths.map((p) => path.relative(ROOT, p))).toEqual([
      path.join("album", "_CON"),
      path.join("album", "a_b_.txt"),
      path.join("album", "tabhere.bin"),
      path.join("album", "hidden"),
      "_nul.txt",
    ]);
  });

  it("never lets two files share a path, nor a file stand where another needs a folder", () => {
    const paths = torrentDiskPaths(ROOT, ["t/a:b.txt", "t/a_b.txt", "t/x", "t/x/y", "t/d/e", "t/d"]);
    expect(paths.map((p) => path.relative(ROOT, p))).toEqual([
      path.join("t", "a_b.txt"),
      path.join("t", "a_b~1.txt"),
      path.join("t", "x"),
      "t_x_y~3",
      path.join("t", "d", "e"),
      path.join("t", "d~5"),
    ]);
    expect(new Set(paths).size).toBe(paths.length);
  });
});

describe("selectFiles and what the chat is told", () => {
  const entries: TorrentEntry[] = [
    { index: 0, path: "album/01.flac", length: 40 },
    { index: 1, path: "album/.pad/0", length: 24, padding: true },
    { index: 2, path: "album/<b>big</b>.iso", length: 500 },
    { index: 3, path: "album/empty.txt", length: 0 },
    { index: 4, path: "album/02.flac", length: 60 },
  ];

  it("keeps files up to the limit in torrent order and sets the others aside", () => {
    const s = selectFiles(entries, 100);
    expect(s.wanted.map((e) => e.index)).toEqual([0, 4]);
    expect(s.tooLarge.map((e) => e.index)).toEqual([2]);
    expect(s.empty.map((e) => e.index)).toEqual([3]);
    expect(s.wantedBytes).toBe(100);
    // Exactly at the limit is allowed.
    expect(selectFiles([{ index: 0, path: "a", length: 100 }], 100).wanted).toHaveLength(1);
  });

  it("names skipped files with their sizes, escaped for HTML", () => {
    expect(renderNotice(skippedFiles("album <1>", selectFiles(entries, 100), 100)!)).toBe(
      "<b>album &lt;1&gt;</b>\n" +
        "Skipping 1 file over the 100 B limit: album/&lt;b&gt;big&lt;/b&gt;.iso (500 B).\n" +
        "Skipping 1 empty file: album/empty.txt (0 B).",
    );
    expect(skippedFiles("x", selectFiles(entries.slice(0, 1), 100), 100)).toBeNull();
  });

  it("refuses a torrent whose files are all too large, listing them (not retryable)", () => {
    const many = Array.from({ length: 12 }, (_, i) => ({ index: i, path: `big/${i}.iso`, length: 2048 }));
    const error = allTooLargeError(selectFiles(many, 1024), 1024);
    expect(error.code).toBe("TOO_LARGE");
    expect(error.retryable).toBe(false);
    expect(describeReason(error.reason)).toBe(
      "all 12 files are over this bot's limit of 1.0 KB: " +
        Array.from({ length: 10 }, (_, i) => `big/${i}.iso (2.0 KB)`).join(", ") +
        ", and 2 more.",
    );
    const one = allTooLargeError(selectFiles([{ index: 0, path: "x.iso", length: 5000 }], 1024), 1024);
    expect(describeReason(one.reason)).toBe("its file is over this bot's limit of 1.0 KB: x.iso (4.9 KB).");
  });

  it("counts a torrent's files without its padding, and refuses too many with the count (not retryable)", () => {
    const entries: TorrentEntry[] = [
      { index: 0, path: "a/1.bin", length: 10 },
      { index: 1, path: "a/.pad/1", length: 5, padding: true },
      { index: 2, path: "a/2.bin", length: 0 },
    ];
    expect(fileCount(entries)).toBe(2);
    const error = tooManyFilesError(250, 200);
    expect(error).toMatchObject({ code: "TOO_LARGE", retryable: false });
    expect(describeReason(error.reason)).toBe("this torrent holds 250 files, more than this bot takes (200); send a torrent with fewer files.");
  });

  it("recognises BEP 47 padding files and cuts captions to Telegram's limit", () => {
    expect(isPaddingAttr(Buffer.from("p"))).toBe(true);
    expect(isPaddingAttr("xp")).toBe(true);
    expect(isPaddingAttr(Buffer.from("x"))).toBe(false);
    expect(isPaddingAttr(undefined)).toBe(false);
    expect(Array.from(torrentCaption("d/".repeat(600))).length).toBe(1024);
    expect(torrentCaption("album/01.flac")).toBe("album/01.flac");
  });
});

describe("magnets", () => {
  it("writes a canonical magnet whose info hash can be read back", () => {
    const magnet = buildMagnet({
      infoHash: HASH,
      name: "a b&c",
      trackers: ["http://t.example/announce?x=1"],
      webSeeds: ["https://ws.example/f"],
      peers: ["1.2.3.4:6881"],
    });
    expect(magnet).toBe(
      `magnet:?xt=urn:btih:${HASH}&dn=a%20b%26c&tr=http%3A%2F%2Ft.example%2Fannounce%3Fx%3D1&ws=https%3A%2F%2Fws.example%2Ff&x.pe=1.2.3.4%3A6881`,
    );
    expect(infoHashOfMagnet(magnet)).toBe(HASH);
    expect(infoHashOfMagnet("https://example.com/x.torrent")).toBeNull();
  });

  it("parses hex and base32 info hashes, names and trackers; refuses the rest with what is wrong", async () => {
    const parsed = await parseMagnet(`  MAGNET:?xt=urn:btih:${HASH.toUpperCase()}&dn=Some+Name&tr=udp%3A%2F%2Ft.example%3A80  `);
    expect(parsed).toEqual({ infoHash: HASH, name: "Some Name", trackers: ["udp://t.example:80"], webSeeds: [], peers: [] });
    // The same hash in base32.
    expect((await parseMagnet("magnet:?xt=urn:btih:AERUKZ4JVPG66AJDIVTYTK6N54ASGRLH")).infoHash).toBe(HASH);
    await expect(parseMagnet("magnet:?dn=nothing")).rejects.toMatchObject({ code: "INVALID_URL", retryable: false });
    const v2 = await parseMagnet(`magnet:?xt=urn:btmh:1220${"ab".repeat(32)}`).then(
      () => undefined,
      (error: AppError) => error,
    );
    expect(describeReason(v2!.reason)).toMatch(/v2-only magnets/);
    await expect(parseMagnet("https://example.com")).rejects.toMatchObject({ code: "INVALID_URL" });
  });
});

describe("the torrent client's network policy", () => {
  it("maps the config to webtorrent's options: no web seeds, no WebRTC, trackers through the given dispatcher", () => {
    const limits = { metadataTimeoutMs: 1, seed: false, maxFiles: 200, maxTrackers: 50 };
    expect(webTorrentOptions({ dht: false, lsd: false, natTraversal: false, ...limits })).toEqual({
      dht: false,
      lsd: false,
      natUpnp: false,
      natPmp: false,
      utp: false,
      webSeeds: false,
      tracker: { wrtc: false },
    });
    const dispatcher = { dispatch: () => true, close: async () => {} };
    expect(webTorrentOptions({ dht: true, lsd: true, natTraversal: true, ...limits }, dispatcher)).toMatchObject({
      dht: true,
      lsd: true,
      natUpnp: true,
      natPmp: true,
      webSeeds: false,
      tracker: { wrtc: false, proxyOpts: { httpAgent: dispatcher, httpsAgent: dispatcher } },
    });
  });

  it("keeps the first usable trackers up to the limit, once each", () => {
    const urls = ["http://a/announce", "wss://tracker.webtorrent.dev", "udp://b:80", "http://a/announce", "https://c/announce", "udp://d:1", "nonsense"];
    expect(limitTrackers(urls, 3)).toEqual({
      kept: ["http://a/announce", "udp://b:80", "https://c/announce"],
      unusable: ["wss://tracker.webtorrent.dev", "nonsense"],
      overLimit: 1,
    });
    expect(limitTrackers(urls, 50).overLimit).toBe(0);
  });

  it("blocks peers on private networks, IPv6 and IPv4-mapped included, unless trusted", () => {
    const blocked = peerBlocklist({ allowPrivate: false, trusted: ["127.0.0.2"] });
    for (const a of ["127.0.0.1", "10.1.2.3", "192.168.0.9", "169.254.1.1", "100.64.0.1", "::1", "fe80::1", "fc00::5", "::ffff:10.0.0.1", "0.0.0.0", "not-an-ip"]) {
      expect([a, blocked.contains(a)]).toEqual([a, true]);
    }
    for (const a of ["8.8.8.8", "2001:4860:4860::8888", "127.0.0.2", "[2001:4860:4860::8888]"]) {
      expect([a, blocked.contains(a)]).toEqual([a, false]);
    }
  });

  it("drops trackers and web seeds whose host resolves to a private address (or does not resolve)", async () => {
    const resolve = async (name: string) =>
      name === "public.example" ? [{ address: "93.184.216.34", family: 4 }] : name === "sneaky.example" ? [{ address: "93.184.216.34", family: 4 }, { address: "10.0.0.1", family: 4 }] : [];
    const urls = ["http://public.example/announce", "udp://sneaky.example:80", "http://127.0.0.1:1/announce", "http://[::1]/a", "udp://gone.example:1", "not a url"];
    expect(await filterReachableUrls(urls, { allowPrivate: false }, resolve)).toEqual({
      kept: ["http://public.example/announce"],
      dropped: urls.slice(1),
    });
    expect((await filterReachableUrls(urls, { allowPrivate: true }, resolve)).kept).toEqual(urls);
  });
});

describe("limitRequests", () => {
  it("caps what webtorrent reads as the peer's reqq, whatever the peer's handshake says", () => {
    const torrent = new EventEmitter();
    const wire = Object.assign(new EventEmitter(), { peerExtendedHandshake: {} as unknown });
    limitRequests(torrent as unknown as Torrent, 128);
    torrent.emit("wire", wire);
    // Before the peer's handshake: bittorrent-protocol's empty object.
    expect(wire.peerExtendedHandshake).toEqual({ reqq: 128 });
    const sent: Array<[unknown, unknown]> = [
      [{ reqq: 500, v: "x" }, { reqq: 128, v: "x" }],
      [{ reqq: 50 }, { reqq: 50 }],
      [{ reqq: -1 }, { reqq: 128 }],
      [{ reqq: Number.NaN }, { reqq: 128 }],
      [{ reqq: "9" }, { reqq: 128 }],
      [{ m: {} }, { m: {}, reqq: 128 }],
      // A hostile handshake that decodes to a number: replaced instead of written to.
      [7, { reqq: 128 }],
    ];
    for (const [shake, kept] of sent) {
      wire.peerExtendedHandshake = shake;
      wire.emit("extended", "handshake", shake);
      expect(wire.peerExtendedHandshake).toEqual(kept);
    }
  });
});

describe("pieceTargets", () => {
  // 10, 0, 5 and 20 bytes in pieces of 8: piece 1 ends file 0, skips the empty one, starts file 2.
  const files = [
    { offset: 0, length: 10 },
    { offset: 10, length: 0 },
    { offset: 10, length: 5 },
    { offset: 15, length: 20 },
  ];

  it("splits a piece over the files it overlaps, with each file's offset", () => {
    expect(pieceTargets(files, 8, 0, 8)).toEqual([{ file: 0, from: 0, to: 8, at: 0 }]);
    expect(pieceTargets(files, 8, 1, 8)).toEqual([
      { file: 0, from: 0, to: 2, at: 8 },
      { file: 2, from: 2, to: 7, at: 0 },
      { file: 3, from: 7, to: 8, at: 0 },
    ]);
    // The last piece is shorter: 35 bytes in all.
    expect(pieceTargets(files, 8, 4, 3)).toEqual([{ file: 3, from: 0, to: 3, at: 17 }]);
  });

  it("gives every byte of the torrent exactly one place", () => {
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      for (const t of pieceTargets(files, 8, i, i === 4 ? 3 : 8)) {
        for (let b = t.from; b < t.to; b++) seen.push(`${t.file}:${t.at + b - t.from}`);
      }
    }
    const expected = files.flatMap((f, file) => Array.from({ length: f.length }, (_, at) => `${file}:${at}`));
    expect(seen).toEqual(expected);
  });

  it("finds the same files as a walk over all of them in a pack of many small, empty and big files", () => {
    const lengths = Array.from({ length: 500 }, (_, i) => (i % 7 === 0 ? 0 : i % 13 === 0 ? 5000 : (i * 37) % 300));
    let offset = 0;
    const pack = lengths.map((length) => ({ offset: (offset += length) - length, length }));
    const walk = (index: number, bytes: number) => {
      const start = index * 64;
      return pack.flatMap((f, file) => {
        const from = Math.max(start, f.offset);
        const to = Math.min(start + bytes, f.offset + f.length);
        return from < to ? [{ file, from: from - start, to: to - start, at: from - f.offset }] : [];
      });
    };
    const pieces = Math.ceil(offset / 64);
    for (let i = 0; i < pieces; i++) {
      const bytes = i === pieces - 1 ? offset - i * 64 : 64;
      expect(pieceTargets(pack, 64, i, bytes)).toEqual(walk(i, bytes));
    }
  });
});

describe("the torrent store", () => {
  it("writes pieces over file boundaries before put calls back, reads them back, and refuses wrong sizes and a closed store", async () => {
    const root = await mkdtemp(path.join(tmpdir(), "dlbot-store-"));
    try {
      const Store = safeStore(root);
      const store = new Store(8, { files: [{ path: "t/a.bin", length: 10, offset: 0 }, { path: "t/sub/b.bin", length: 9, offset: 10 }] });
      const data = Buffer.from("0123456789abcdefghi");
      const put = (i: number, b: Uint8Array) => new Promise<Error | null | undefined>((r) => store.put(i, b, r));
      // Out of order, as pieces are verified.
      expect(await put(2, data.subarray(16))).toBeFalsy();
      expect(await put(0, data.subarray(0, 8))).toBeFalsy();
      expect(await put(1, data.subarray(8, 16))).toBeFalsy();
      expect(await readFile(path.join(root, "t", "a.bin"), "utf8")).toBe("0123456789");
      expect(await readFile(path.join(root, "t", "sub", "b.bin"), "utf8")).toBe("abcdefghi");
      const got = await new Promise<Uint8Array | undefined>((r) => store.get(1, null, (_e, b) => r(b)));
      expect(Buffer.from(got!).toString()).toBe("89abcdef");
      expect(String(await put(1, data.subarray(0, 7)))).toMatch(/expected 8 bytes, got 7/);
      expect(String(await put(3, data.subarray(0, 8)))).toMatch(/piece 3/);
      await new Promise((r) => store.close(r));
      expect(String(await put(0, data.subarray(0, 8)))).toMatch(/closed/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe("documents", () => {
  it("takes a document for a .torrent by its name or its type", () => {
    expect(isTorrentDocument({ file_name: "Album.TORRENT" })).toBe(true);
    expect(isTorrentDocument({ file_name: "x.bin", mime_type: "application/x-bittorrent" })).toBe(true);
    expect(isTorrentDocument({ file_name: "x.torrent.txt", mime_type: "text/plain" })).toBe(false);
    expect(isTorrentDocument({})).toBe(false);
  });
});

describe("the HTTP tracker dispatcher, under Node's own fetch as bittorrent-tracker calls it", () => {
  /** A server on 127.0.0.1 answering each path its own way, and a canary on 127.0.0.2. */
  async function world() {
    const canary = await Canary.start();
    const server = createServer((req, res) => {
      if (req.url === "/redirect") {
        res.writeHead(302, { location: `http://${canary.host}:${canary.tcpPort}/announce` });
        res.end();
      } else if (req.url === "/huge") {
        // No content-length: chunked, so the limit can only be seen while the body arrives.
        res.writeHead(200);
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(16 * 1024, 0x61));
        res.end();
      } else if (req.url === "/slow") {
        res.writeHead(200);
        res.write("d8:interval");
        // ...and never the rest.
      } else {
        res.end("d8:intervali60ee");
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dispatcher = await createTrackerDispatcher({ policy: { allowPrivate: false, trusted: ["127.0.0.1"] }, maxBytes: 64 * 1024, timeoutMs: 500 });
    const close = async () => {
      await dispatcher.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await canary.stop();
    };
    return { canary, base, dispatcher, close };
  }

  /** What the tracker client would see: the body's length, or why the request failed. */
  async function ask(url: string, dispatcher: unknown): Promise<string> {
    try {
      const res = await fetch(url, { dispatcher } as RequestInit);
      return `${res.status} ${(await res.arrayBuffer()).byteLength} bytes`;
    } catch (error) {
      const cause = (error as Error).cause;
      return `failed: ${cause instanceof Error ? cause.message : String(error)}`;
    }
  }

  it("answers a plain announce, does not follow a redirect, and connects to nothing private", async () => {
    const w = await world();
    try {
      expect(await ask(`${w.base}/announce`, w.dispatcher)).toBe("200 16 bytes");
      expect(await ask(`${w.base}/redirect`, w.dispatcher)).toBe("failed: tracker answered 302 (a redirect), which is not followed");
      expect(await ask(`http://${w.canary.host}:${w.canary.tcpPort}/announce`, w.dispatcher)).toMatch(/^failed: refused: 127\.0\.0\.2 is a private/);
      expect(w.canary.hits).toEqual([]);
    } finally {
      await w.close();
    }
  });

  it("cuts an answer over the size or time limit short instead of failing after the headers", async () => {
    const w = await world();
    try {
      // The body ends early (the tracker client then fails to decode it): the promise the library
      // never handles does not reject.
      const huge = await ask(`${w.base}/huge`, w.dispatcher);
      expect(huge).toMatch(/^200 \d+ bytes$/);
      expect(Number(huge.split(" ")[1])).toBeLessThanOrEqual(64 * 1024);
      expect(await ask(`${w.base}/slow`, w.dispatcher)).toBe("200 11 bytes");
    } finally {
      await w.close();
    }
  });
});

/**
 * Hostile torrents (issue 18, finding 5): trackers and web seeds that redirect to a private
 * address, torrents listing too many trackers or files. Real webtorrent peers on loopback, the
 * guard on (allowPrivateNetworks false) with only 127.0.0.1 trusted, and a canary on 127.0.0.2
 * that must see nothing.
 */
import { afterEach, describe, expect, it } from "vitest";
import { listItems } from "../../src/db/item-repository.ts";
import type { ConfigInput } from "../../src/config.ts";
import { Canary } from "../support/canary.ts";
import { FileServer } from "../support/file-server.ts";
import { CHAT, Harness, USER } from "../support/harness.ts";
import { TorrentSwarm, withSources } from "../support/torrent-swarm.ts";

let h: Harness | undefined;
let swarm: TorrentSwarm | undefined;
let canary: Canary | undefined;
afterEach(async () => {
  await h?.close();
  await swarm?.stop();
  await canary?.stop();
  h = undefined;
  swarm = undefined;
  canary = undefined;
});

/** A tracker's whole answer: no peers, come back in half an hour. */
const EMPTY_ANNOUNCE = Buffer.from("d8:intervali1800e5:peers0:e");

async function setUp(overrides: Partial<ConfigInput> = {}): Promise<{ h: Harness; swarm: TorrentSwarm; canary: Canary }> {
  canary = await Canary.start();
  swarm = await TorrentSwarm.start();
  h = await Harness.create({ allowPrivateNetworks: false, ...overrides, torrent: { metadataTimeoutMs: 5000, ...overrides.torrent } });
  // Only the fixtures' own servers (the tracker, the seeder, the file server) on 127.0.0.1.
  await h.start({ trustedAddresses: ["127.0.0.1"] });
  return { h, swarm, canary };
}

describe("hostile torrents", () => {
  it("does not follow a tracker's redirect to a private address, and downloads through the other tracker", async () => {
    const { h, swarm, canary } = await setUp();
    const seeded = await swarm.seed("film.bin", [{ path: "film.bin", bytes: FileServer.randomBytes(300_000, 501) }]);
    const redirecting = h.files.addRedirect("/redirecting/announce", `http://${canary.host}:${canary.tcpPort}/announce`);
    // A redirect the guard would allow (same trusted server): only not following it keeps it unasked.
    const homeward = h.files.addRedirect("/homeward/announce", `${h.files.baseUrl}/followed/announce`);
    const link = h.files.addFile("/t/film.torrent", await withSources(seeded.torrentFile, { announce: [redirecting, homeward, swarm.announceUrl] }), {
      contentType: "application/x-bittorrent",
    });
    const since = h.api.nextSeq;
    h.send(`/torrent ${link.url}`);

    // The bot asked the redirecting tracker (the guard let 127.0.0.1 through)...
    await h.files.waitForRequest((r) => r.path === "/redirecting/announce" && /info_hash=/.test(r.url));
    // ...and still got the file from the swarm the other tracker named.
    expect((await h.upload(since)).files[0]!.sha256).toBe(seeded.files[0]!.sha256);
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    expect(canary.hits).toEqual([]);
    await h.files.waitForRequest((r) => r.path === "/homeward/announce");
    expect(h.files.requests.some((r) => r.path === "/followed/announce")).toBe(false);
  });

  it("leaves web seeds alone: a web seed that redirects to a private address is never asked", async () => {
    const { h, swarm, canary } = await setUp();
    const seeded = await swarm.seed("seeded.bin", [{ path: "seeded.bin", bytes: FileServer.randomBytes(300_000, 502) }]);
    const webSeed = h.files.addRedirect("/webseed/seeded.bin", `http://${canary.host}:${canary.tcpPort}/seeded.bin`);
    const link = h.files.addFile(
      "/t/seeded.torrent",
      await withSources(seeded.torrentFile, { announce: [swarm.announceUrl], urlList: [webSeed] }),
      { contentType: "application/x-bittorrent" },
    );
    const since = h.api.nextSeq;
    h.send(`/torrent ${link.url}`);

    expect((await h.upload(since)).files[0]!.sha256).toBe(seeded.files[0]!.sha256);
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    // webtorrent asks a web seed for pieces as soon as the metadata is known, before any peer
    // connects: by delivery, a web seed in use would have been asked.
    expect(h.files.requests.filter((r) => r.path.startsWith("/webseed/"))).toEqual([]);
    expect(canary.hits).toEqual([]);
  });

  it("contacts at most torrent.maxTrackers (50) of the 60 trackers a torrent lists, the first ones", async () => {
    const { h, swarm, canary } = await setUp();
    const seeded = await swarm.seed("crowded.bin", [{ path: "crowded.bin", bytes: FileServer.randomBytes(200_000, 503) }]);
    const extra = Array.from({ length: 59 }, (_, i) => h.files.addFile(`/tracker${i + 1}/announce`, EMPTY_ANNOUNCE).url);
    const link = h.files.addFile("/t/crowded.torrent", await withSources(seeded.torrentFile, { announce: [swarm.announceUrl, ...extra] }), {
      contentType: "application/x-bittorrent",
    });
    const since = h.api.nextSeq;
    h.send(`/torrent ${link.url}`);

    expect((await h.upload(since)).files[0]!.sha256).toBe(seeded.files[0]!.sha256);
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    const asked = () => new Set(h.files.requests.filter((r) => /^\/tracker\d+\/announce$/.test(r.path)).map((r) => r.path));
    // The first 49 after the swarm's own tracker: announced to together when the torrent started.
    await h.files.waitForRequest(() => asked().size >= 49);
    expect([...asked()].sort()).toEqual(extra.slice(0, 49).map((u) => new URL(u).pathname).sort());
    expect(canary.hits).toEqual([]);
  });
});

describe("torrents with too many files", () => {
  const FILES = Array.from({ length: 5 }, (_, i) => ({ path: `part${i + 1}.bin`, bytes: FileServer.randomBytes(20_000, 510 + i) }));

  it("refuses a magnet holding more files than torrent.maxFiles as soon as the metadata arrives, with the count", async () => {
    const { h, swarm, canary } = await setUp({ torrent: { maxFiles: 3 } });
    const seeded = await swarm.seed("five", FILES);
    const since = h.api.nextSeq;
    h.send(`/torrent ${seeded.magnetURI}`);

    const failure = await h.reply(since, CHAT, /failed/);
    expect(String(failure.params.text)).toBe(
      "❌ <b>five</b>: failed: this torrent holds 5 files, more than this bot takes (3); send a torrent with fewer files.",
    );
    expect(h.uploads()).toEqual([]);
    // The seeder sent the metadata and not one block of a piece (16 KiB each).
    expect(seeded.torrent.uploaded).toBeLessThan(16 * 1024);
    expect((await listItems(h.app!.db)).map((i) => i.status)).toEqual(["failed"]);
    expect(canary.hits).toEqual([]);
  });

  it("refuses a .torrent file holding more files than torrent.maxFiles, with the count", async () => {
    const { h, swarm } = await setUp({ torrent: { maxFiles: 3 } });
    const seeded = await swarm.seed("five", FILES);
    const since = h.api.nextSeq;
    h.api.sendDocument(CHAT, { bytes: seeded.torrentFile, fileName: "five.torrent" }, { fromId: USER });

    // Refused when it is sent, in the one reply, not queued first and failed later.
    const refusal = await h.reply(since, CHAT, /holds 5 files/);
    expect(String(refusal.params.text)).toMatch(/this torrent holds 5 files, more than this bot takes \(3\); send a torrent with fewer files\.$/);
    expect(h.api.calls.filter((c) => c.seq >= since && /Queued/.test(String(c.params.text ?? "")))).toEqual([]);
    expect(h.uploads()).toEqual([]);
    expect(seeded.torrent.uploaded).toBe(0);
    expect(await listItems(h.app!.db)).toEqual([]);
  });
});

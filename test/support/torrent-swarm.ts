/**
 * A BitTorrent swarm on loopback for end-to-end tests: a bittorrent-tracker server on 127.0.0.1
 * and a seeding WebTorrent client. DHT, local service discovery and UPnP/NAT-PMP are off, and
 * every torrent names only the local tracker, so nothing talks beyond 127.0.0.1.
 */
import { createHash } from "node:crypto";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Server } from "bittorrent-tracker";
import createTorrent from "create-torrent";
import parseTorrent, { toTorrentFile } from "parse-torrent";
import WebTorrent, { type Torrent } from "webtorrent";

export interface SeededTorrent {
  torrent: Torrent;
  infoHash: string;
  magnetURI: string;
  /** The .torrent file. */
  torrentFile: Buffer;
  files: Array<{ path: string; bytes: Buffer; sha256: string }>;
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** What fs-chunk-store (filename-reserved-regex) removes from a file name. */
// eslint-disable-next-line no-control-regex
const STORE_STRIPS = /[<>:"/\\|?*\u0000-\u001F]/g;

/**
 * The same torrent (same info dictionary, so the same info hash and pieces) with other trackers
 * and web seeds: what a hostile .torrent would list around a real swarm.
 */
export async function withSources(torrentFile: Buffer, sources: { announce: string[]; urlList?: string[] }): Promise<Buffer> {
  const parsed = await parseTorrent(torrentFile);
  const changed = { ...parsed, announce: sources.announce, urlList: sources.urlList ?? [] };
  const bytes = Buffer.from(toTorrentFile(changed));
  if ((await parseTorrent(bytes)).infoHash !== parsed.infoHash) throw new Error("withSources changed the info hash");
  return bytes;
}

/** No DHT, no LSD, no port mapping: nothing leaves loopback. TCP only, like the bot. */
export const LOOPBACK_TORRENT_OPTIONS = { dht: false, lsd: false, natUpnp: false, natPmp: false, utp: false } as const;

export class TorrentSwarm {
  private leecher?: WebTorrent;
  /** The listening port of every client that announced to the tracker, in order. */
  readonly announcedPorts: number[] = [];

  private constructor(
    private readonly tracker: Server,
    readonly announceUrl: string,
    readonly seeder: WebTorrent,
    private readonly dir: string,
  ) {}

  static async start(): Promise<TorrentSwarm> {
    const tracker = new Server({ udp: false, ws: false, http: true, stats: false });
    tracker.on("error", () => {});
    tracker.on("warning", () => {});
    await new Promise<void>((resolve) => tracker.listen(0, "127.0.0.1", () => resolve()));
    const port = (tracker.http!.address() as { port: number }).port;
    const seeder = new WebTorrent({ ...LOOPBACK_TORRENT_OPTIONS });
    seeder.on("error", () => {});
    const dir = await mkdtemp(path.join(tmpdir(), "dlbot-seed-"));
    const swarm = new TorrentSwarm(tracker, `http://127.0.0.1:${port}/announce`, seeder, dir);
    for (const event of ["start", "update", "complete", "stop"]) {
      tracker.on(event, (_addr: string, params: { port?: number }) => swarm.announcedPorts.push(Number(params.port)));
    }
    return swarm;
  }

  /**
   * Seeds the given files as one torrent named `name` (a single file when one file has no
   * folder: `files: [{ path: "a.bin", ... }]` and name "a.bin"). Paths use "/".
   */
  async seed(name: string, files: Array<{ path: string; bytes: Buffer }>, opts: { pieceLength?: number } = {}): Promise<SeededTorrent> {
    const root = await mkdtemp(path.join(this.dir, "t-"));
    const single = files.length === 1 && files[0]!.path === name;
    const input = path.join(root, name);
    for (const f of files) {
      const full = single ? input : path.join(input, ...f.path.split("/"));
      await mkdir(path.dirname(full), { recursive: true });
      await writeFile(full, f.bytes);
      // The seeding client's fs-chunk-store drops these characters from names when it reads;
      // give it the bytes under that name too (create-torrent needs the real one for the metadata).
      const stored = path.basename(full).replace(STORE_STRIPS, "");
      if (stored !== path.basename(full)) await writeFile(path.join(path.dirname(full), stored), f.bytes);
    }
    const torrent = await new Promise<Torrent>((resolve) =>
      this.seeder.seed(input, { announce: [this.announceUrl], pieceLength: opts.pieceLength ?? 64 * 1024, name }, resolve),
    );
    return this.describe(torrent, files);
  }

  /**
   * Seeds one file under a name create-torrent writes as given and `seed()` could not put on
   * disk (`../../x`): the bytes go where the seeding client's own (parse-torrent normalised)
   * path points, and it verifies them before seeding.
   */
  async seedNamed(name: string, bytes: Buffer, opts: { pieceLength?: number } = {}): Promise<SeededTorrent> {
    const raw = await new Promise<Buffer>((resolve, reject) =>
      createTorrent(bytes, { name, pieceLength: opts.pieceLength ?? 64 * 1024, announce: [this.announceUrl] }, (err, buf) =>
        err ? reject(err) : resolve(Buffer.from(buf)),
      ),
    );
    const root = await mkdtemp(path.join(this.dir, "named-"));
    const parsed = await parseTorrent(raw);
    const full = path.join(root, parsed.files![0]!.path);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, bytes);
    const torrent = await new Promise<Torrent>((resolve, reject) => {
      const t = this.seeder.add(raw, { path: root });
      t.once("error", reject);
      t.once("ready", () => resolve(t));
    });
    return this.describe(torrent, [{ path: name, bytes }], raw);
  }

  /**
   * Downloads a torrent with a second client (as another user of the swarm would) and returns
   * the bytes of its files in torrent order.
   */
  async leech(magnetURI: string): Promise<Buffer[]> {
    this.leecher ??= new WebTorrent({ ...LOOPBACK_TORRENT_OPTIONS });
    this.leecher.on("error", () => {});
    const dir = await mkdtemp(path.join(this.dir, "leech-"));
    const torrent = this.leecher.add(magnetURI, { path: dir });
    await new Promise<void>((resolve, reject) => {
      torrent.once("error", reject);
      torrent.once("done", () => resolve());
    });
    return Promise.all(torrent.files.map((f) => readFile(path.join(dir, f.path))));
  }

  /** Limits the seeder's upload rate (bytes/s); -1 lifts the limit. */
  throttle(bytesPerSecond: number): void {
    this.seeder.throttleUpload(bytesPerSecond);
  }

  /** A magnet for a torrent nobody has: its tracker is ours, so the bot finds no peer. */
  deadMagnet(name = "nobody-has-this"): string {
    const infoHash = createHash("sha1").update(`dead ${name} ${Math.random()}`).digest("hex");
    return `magnet:?xt=urn:btih:${infoHash}&dn=${encodeURIComponent(name)}&tr=${encodeURIComponent(this.announceUrl)}`;
  }

  private describe(torrent: Torrent, files: Array<{ path: string; bytes: Buffer }>, raw?: Buffer): SeededTorrent {
    const torrentFile = raw ?? Buffer.from(torrent.torrentFile!);
    return {
      torrent,
      infoHash: torrent.infoHash,
      magnetURI: `magnet:?xt=urn:btih:${torrent.infoHash}&dn=${encodeURIComponent(torrent.name)}&tr=${encodeURIComponent(this.announceUrl)}`,
      torrentFile,
      files: files.map((f) => ({ ...f, sha256: sha256(f.bytes) })),
    };
  }

  async stop(): Promise<void> {
    const leecher = this.leecher;
    if (leecher) await new Promise<void>((resolve) => leecher.destroy(() => resolve()));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 3000);
      this.seeder.destroy(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    await new Promise<void>((resolve) => this.tracker.close(() => resolve()));
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * The parts of webtorrent 3, parse-torrent and fs-chunk-store the bot uses. None of them ships
 * types; these describe only what src/sources/torrent-*.ts touches, as those versions behave.
 */

declare module "webtorrent" {
  import type { EventEmitter } from "node:events";

  export interface TorrentFile extends EventEmitter {
    readonly name: string;
    /** The path inside the torrent, the torrent's name first ("album/cd1/01.flac"). */
    readonly path: string;
    readonly length: number;
    readonly offset: number;
    done: boolean;
    /** Verified bytes of this file. */
    readonly downloaded: number;
    select(priority?: number): void;
    deselect(): void;
  }

  export interface Torrent extends EventEmitter {
    readonly infoHash: string;
    readonly name: string;
    readonly length: number;
    readonly files: TorrentFile[];
    /** The raw bencoded info dictionary once known (`attr` of BEP 47 padding files lives here). */
    readonly info?: { files?: Array<{ attr?: Uint8Array | string }> };
    readonly ready: boolean;
    readonly done: boolean;
    readonly destroyed: boolean;
    readonly numPeers: number;
    readonly downloadSpeed: number;
    readonly uploadSpeed: number;
    readonly uploaded: number;
    readonly received: number;
    /** A complete .torrent (bencoded) once the metadata is known. */
    readonly torrentFile: Uint8Array | null;
    readonly metadata: Uint8Array | null;
    destroy(opts?: { destroyStore?: boolean } | null, cb?: (err?: Error | null) => void): void;
  }

  /** A connection to one peer (bittorrent-protocol's Wire). */
  export interface Wire extends EventEmitter {
    /** The peer's BEP 10 handshake; webtorrent keeps at most `reqq` block requests open with it. */
    peerExtendedHandshake: unknown;
  }

  export interface TorrentOptions {
    /** Where the files go: <path>/<path inside the torrent>. */
    path?: string;
    /** An abstract-chunk-store constructor, called as `new store(pieceLength, opts)`. */
    store?: unknown;
    /** Start with nothing selected; pick files with `file.select()`. */
    deselect?: boolean;
    announce?: string[];
    skipVerify?: boolean;
    strategy?: "sequential" | "rarest";
  }

  export interface ClientOptions {
    dht?: boolean | Record<string, unknown>;
    lsd?: boolean;
    natUpnp?: boolean | "permanent";
    natPmp?: boolean;
    utp?: boolean;
    utPex?: boolean;
    webSeeds?: boolean;
    tracker?: false | Record<string, unknown>;
    torrentPort?: number;
    uploadLimit?: number;
    downloadLimit?: number;
    maxConns?: number;
  }

  /** What webtorrent asks before connecting to a peer (its `blocklist` option builds one). */
  export interface PeerBlocklist {
    contains(address: string): boolean;
  }

  export default class WebTorrent extends EventEmitter {
    constructor(opts?: ClientOptions);
    readonly torrents: Torrent[];
    readonly destroyed: boolean;
    blocked?: PeerBlocklist;
    add(torrentId: unknown, opts?: TorrentOptions, ontorrent?: (torrent: Torrent) => void): Torrent;
    seed(input: string | string[] | Uint8Array, opts?: Record<string, unknown>, onseed?: (torrent: Torrent) => void): Torrent;
    get(torrentId: unknown): Promise<Torrent | null>;
    address(): { address: string; port: number } | null;
    throttleUpload(rate: number): void;
    destroy(cb?: (err?: Error | null) => void): void;
  }
}

declare module "parse-torrent" {
  export interface ParsedTorrentFile {
    path: string;
    name: string;
    length: number;
    offset: number;
  }

  export interface ParsedTorrent {
    infoHash: string;
    infoHashV2?: string;
    name?: string;
    announce: string[];
    urlList: string[];
    /** Magnets: exact sources (BEP 9 `xs`) and peer addresses (`x.pe`). */
    xs?: string | string[];
    peerAddresses?: string[];
    /** Present when the metadata is known (a .torrent, not a bare magnet). */
    info?: { files?: Array<{ attr?: Uint8Array | string }> };
    files?: ParsedTorrentFile[];
    length?: number;
    private?: boolean;
    [key: string]: unknown;
  }

  export default function parseTorrent(torrentId: string | Uint8Array | ParsedTorrent): Promise<ParsedTorrent>;
  export function toTorrentFile(parsed: ParsedTorrent): Uint8Array;
  export function toMagnetURI(parsed: ParsedTorrent): string;
}

declare module "fs-chunk-store" {
  export interface FsChunkStoreOptions {
    path?: string;
    files?: Array<{ path: string; length: number; offset?: number }>;
    length?: number;
    [key: string]: unknown;
  }

  export default class FSChunkStore {
    constructor(chunkLength: number, opts?: FsChunkStoreOptions);
    readonly chunkLength: number;
    /** The torrent's bytes, all files together. */
    readonly length: number;
    /** Set by close(). */
    readonly closed: boolean;
    /** Absolute paths after the store joined them to `path`. */
    readonly files: Array<{ path: string; length: number; offset: number }>;
    put(index: number, buf: Uint8Array, cb?: (err?: Error | null) => void): void;
    get(index: number, opts: unknown, cb: (err: Error | null, buf?: Uint8Array) => void): void;
    close(cb?: (err?: Error | null) => void): void;
    destroy(cb?: (err?: Error | null) => void): void;
  }
}

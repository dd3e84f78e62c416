/** The parts of the test-only torrent packages the swarm fixture uses (none ships types). */

declare module "bittorrent-tracker" {
  import type { EventEmitter } from "node:events";
  import type { Server as HttpServer } from "node:http";

  export class Server extends EventEmitter {
    constructor(opts?: { udp?: boolean; ws?: boolean; http?: boolean; stats?: boolean; interval?: number });
    http: HttpServer | null;
    listen(port: number, hostname: string, onlistening?: () => void): void;
    close(cb?: () => void): void;
  }
}

declare module "create-torrent" {
  export default function createTorrent(
    input: string | Uint8Array | Array<string | Uint8Array>,
    opts: { name?: string; pieceLength?: number; announce?: string[]; announceList?: string[][] },
    cb: (err: Error | null, torrent: Uint8Array) => void,
  ): void;
}

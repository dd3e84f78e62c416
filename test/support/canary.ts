import { type Socket as UdpSocket, createSocket } from "node:dgram";
import { type Server, type Socket, createServer } from "node:net";

/**
 * A canary for the "nothing gets past the guard" tests: a TCP listener and a UDP socket on
 * 127.0.0.2, a loopback address the tests never trust (only 127.0.0.1, the page's own server, is
 * trusted through `madeUpNames()` / `trustedAddresses`). Hostile media points at it; any
 * connection or datagram it sees means something reached a private address without the guard.
 */
export class Canary {
  /** One entry per TCP connection or UDP datagram, in arrival order. */
  private constructor(
    readonly hits: Array<{ kind: "tcp" | "udp"; at: number; bytes: string }>,
    private readonly sockets: Set<Socket>,
    private readonly tcp: Server,
    private readonly udp: UdpSocket,
    readonly host: string,
    readonly tcpPort: number,
    readonly udpPort: number,
  ) {}

  static async start(host = "127.0.0.2"): Promise<Canary> {
    const hits: Canary["hits"] = [];
    const sockets = new Set<Socket>();
    const tcp = createServer((socket) => {
      const hit = { kind: "tcp" as const, at: Date.now(), bytes: "" };
      hits.push(hit);
      sockets.add(socket);
      socket.on("data", (d) => (hit.bytes = (hit.bytes + d.toString("latin1")).slice(0, 2000)));
      socket.on("error", () => {});
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", reject);
      tcp.listen(0, host, () => resolve());
    });
    const udp = createSocket("udp4");
    udp.on("message", (msg) => hits.push({ kind: "udp", at: Date.now(), bytes: msg.toString("latin1").slice(0, 2000) }));
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind(0, host, () => resolve());
    });
    return new Canary(hits, sockets, tcp, udp, host, (tcp.address() as { port: number }).port, udp.address().port);
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    await new Promise<void>((resolve) => this.udp.close(() => resolve()));
  }
}

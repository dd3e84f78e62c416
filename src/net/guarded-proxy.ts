import { randomBytes } from "node:crypto";
import { type IncomingMessage, type Server, type ServerResponse, createServer, request as httpRequest } from "node:http";
import { type Socket, connect, isIP } from "node:net";
import type { Logger } from "../logger.ts";
import { type AddressPolicy, type Resolver, createGuardedLookup, isAllowedAddress } from "./address-guard.ts";

/**
 * A forward proxy on loopback for the tools that do their own networking (ffmpeg): every
 * connection they make, redirects and segments included, goes through the same private-network
 * guard as the bot's own requests. Only whoever knows this run's random password may use it.
 */
export class GuardedProxy {
  private server?: Server;
  private readonly user = "bot";
  private readonly password = randomBytes(18).toString("base64url");
  private readonly sockets = new Set<Socket>();
  private readonly lookup;

  constructor(
    private readonly policy: AddressPolicy,
    private readonly logger: Logger,
    resolve?: Resolver,
  ) {
    this.lookup = createGuardedLookup(policy, resolve);
  }

  /** `http://user:password@127.0.0.1:port`, once started. */
  url = "";

  async start(): Promise<void> {
    const server = createServer((req, res) => this.forward(req, res));
    server.on("connect", (req: IncomingMessage, socket: Socket, head: Buffer) => this.tunnel(req, socket, head));
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = server.address() as { port: number };
    this.url = `http://${this.user}:${this.password}@127.0.0.1:${port}`;
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private authorized(req: IncomingMessage): boolean {
    const expected = `Basic ${Buffer.from(`${this.user}:${this.password}`).toString("base64")}`;
    return req.headers["proxy-authorization"] === expected;
  }

  /** A plain http request with an absolute URL: fetched on the guarded address, streamed back. */
  private forward(req: IncomingMessage, res: ServerResponse): void {
    if (!this.authorized(req)) {
      res.writeHead(407, { "Proxy-Authenticate": 'Basic realm="bot"' }).end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? "");
      if (target.protocol !== "http:" || !target.hostname) throw new Error("not http");
    } catch {
      res.writeHead(400).end();
      return;
    }
    // IP literals skip DNS, so the lookup's check never sees them: checked here.
    const literal = target.hostname.replace(/^\[|\]$/g, "");
    if (isIP(literal) && !isAllowedAddress(literal, this.policy)) {
      this.logger.info({ host: literal }, "proxy refused a private address");
      res.writeHead(403).end();
      return;
    }
    const headers = { ...req.headers };
    delete headers["proxy-authorization"];
    delete headers["proxy-connection"];
    let upstream: ReturnType<typeof httpRequest>;
    try {
      upstream = httpRequest(
        { method: req.method, host: literal, port: target.port || 80, path: `${target.pathname}${target.search}`, headers, lookup: this.lookup as never },
        (answer) => {
          answer.on("error", () => res.destroy());
          const status = answer.statusCode ?? 0;
          // The parser takes any three digits; writeHead throws on what HTTP does not allow.
          if (status < 100 || status > 999) {
            answer.destroy();
            if (!res.headersSent) res.writeHead(502).end();
            return;
          }
          try {
            res.writeHead(status, answer.headers);
          } catch {
            answer.destroy();
            if (!res.headersSent) res.writeHead(502).end();
            else res.destroy();
            return;
          }
          answer.pipe(res);
        },
      );
    } catch (error) {
      this.logger.info({ host: target.hostname, err: error instanceof Error ? error.message : String(error) }, "proxy refused a request");
      res.writeHead(400).end();
      return;
    }
    res.on("error", () => upstream.destroy());
    req.on("error", () => upstream.destroy());
    upstream.on("error", (error) => {
      this.logger.info({ host: target.hostname, err: error.message }, "proxy refused or failed a request");
      if (!res.headersSent) res.writeHead(403).end();
      else res.destroy();
    });
    req.pipe(upstream);
  }

  /** CONNECT host:port (https): a tunnel to the guarded address. */
  private tunnel(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on("error", () => {});
    if (!this.authorized(req)) {
      socket.end("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"bot\"\r\n\r\n");
      return;
    }
    const target = parseConnectTarget(req.url ?? "");
    if (!target) {
      socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
      return;
    }
    const { host, port } = target;
    if (isIP(host) && !isAllowedAddress(host, this.policy)) {
      this.logger.info({ host }, "proxy refused a private address");
      socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
      return;
    }
    // net.connect throws synchronously on what it cannot use; a tool's request must never be
    // able to end the bot, whatever it asks for.
    let upstream: Socket;
    try {
      upstream = connect({ host, port, lookup: this.lookup as never });
    } catch (error) {
      this.logger.info({ host, port, err: error instanceof Error ? error.message : String(error) }, "proxy refused a tunnel");
      socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
      return;
    }
    this.sockets.add(upstream);
    upstream.once("close", () => this.sockets.delete(upstream));
    socket.once("close", () => upstream.destroy());
    upstream.once("connect", () => {
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on("error", (error) => {
      this.logger.info({ host, err: error.message }, "proxy refused or failed a tunnel");
      if (socket.writable) socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
      else socket.destroy();
    });
  }
}

/**
 * The host and port of a CONNECT request's target (`host:port`, `[v6]:port`), or undefined
 * when it is not one a connection can be made to (port outside 1-65535, an empty or odd host).
 * Pure.
 */
export function parseConnectTarget(target: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:/@[\]]+)):(\d{1,5})$/.exec(target);
  if (!match) return undefined;
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) return undefined;
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  return { host, port };
}


import { createServer } from "node:net";
import { Waitlist } from "./waitlist.ts";

/** A TCP port free right now on 127.0.0.1 (the kernel's pick), for a server the test starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface WebAnswer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** A web API caller: real HTTP with fetch, as any client of the bot's API. */
export class WebClient {
  constructor(
    readonly base: string,
    /** The Authorization header's value (`Bearer <token>`, `tma <initData>`), or none. */
    readonly auth?: string,
  ) {}

  withAuth(auth: string | undefined): WebClient {
    return new WebClient(this.base, auth);
  }

  async call<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<WebAnswer<T>> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        ...(this.auth ? { authorization: this.auth } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get("content-type") ?? "").includes("json")) parsed = JSON.parse(text);
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get = <T = any>(path: string) => this.call<T>("GET", path);
  post = <T = any>(path: string, body?: unknown) => this.call<T>("POST", path, body);
  patch = <T = any>(path: string, body?: unknown) => this.call<T>("PATCH", path, body);

  /** Opens `/api/events` and reads it as it comes. */
  async events(path = "/api/events"): Promise<EventStream> {
    const controller = new AbortController();
    const res = await fetch(`${this.base}${path}`, { headers: this.auth ? { authorization: this.auth } : {}, signal: controller.signal });
    return new EventStream(res, controller);
  }
}

export interface ServerSentEvent {
  seq: number;
  event: string;
  data: any;
}

/** A Server-Sent Events stream read with its own parser (as the Mini App reads it, over fetch). */
export class EventStream {
  readonly received: ServerSentEvent[] = [];
  readonly done: Promise<void>;
  private readonly waiters = new Waitlist<ServerSentEvent>();

  constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    this.done = this.read().catch(() => {});
  }

  get status(): number {
    return this.response.status;
  }

  /** The first event (seen already or to come) that matches. */
  next(pred: (e: ServerSentEvent) => boolean, timeoutMs = 15_000): Promise<ServerSentEvent> {
    return this.waiters.wait(this.received, pred, timeoutMs, () => `no matching event within ${timeoutMs} ms; got ${this.received.map((e) => e.event).join(", ") || "none"}`);
  }

  close(): void {
    this.controller.abort();
  }

  private async read(): Promise<void> {
    if (!this.response.body) return;
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of this.response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        if (data.length === 0) continue;
        const record = { seq: this.received.length + 1, event, data: JSON.parse(data.join("\n")) };
        this.received.push(record);
        this.waiters.notify(record);
      }
    }
  }
}

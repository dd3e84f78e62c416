import type { FastifyInstance } from "fastify";
import type { QueueEvents } from "../queue/events.ts";
import { type EventView, TransferSpeeds, eventView } from "./event-view.ts";
import { ProgressThrottle } from "./progress-throttle.ts";

/** A client that stops reading is let go before its unread events pile up past this. */
const MAX_UNREAD_BYTES = 1024 * 1024;
/** A comment line now and then keeps proxies from closing a quiet stream. */
const PING_MS = 15_000;

/**
 * `GET /api/events`: the engine's events about the caller's chats as Server-Sent Events, each
 * `event: <type>` with the JSON of `eventView`, a transfer's progress at most once a second per
 * item. The stream only presents what the engine announces (`QueueEvents.onAny`); it asks the
 * engine for nothing. `streams` holds each open stream's end, for the server's stop.
 */
export function eventsRoute(deps: { events: QueueEvents; streams: Set<() => void>; progressIntervalMs?: number }) {
  return async (app: FastifyInstance) => {
    app.get(
      "/events",
      {
        schema: {
          summary: "The engine's events about the caller's chats, as Server-Sent Events (progress at most once a second per item)",
          produces: ["text/event-stream"],
        },
      },
      (req, reply) => {
        const chats = new Set(req.caller.chatIds);
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-cache, no-transform",
          connection: "keep-alive",
          // nginx and others buffer responses unless told not to.
          "x-accel-buffering": "no",
        });
        res.write("retry: 3000\n: connected\n\n");
        const send = (view: EventView) => {
          if (res.writableLength > MAX_UNREAD_BYTES) return end();
          res.write(`event: ${view.type}\ndata: ${JSON.stringify(view)}\n\n`);
        };
        const throttle = new ProgressThrottle<() => EventView>((make) => send(make()), deps.progressIntervalMs ?? 1000);
        const speeds = new TransferSpeeds();
        const off = deps.events.onAny((event) => {
          if (event.type === "recovered" || !chats.has(event.item.chatId)) return;
          const speed = speeds.see(event);
          // Made only when sent: most progress events are thinned out.
          const make = () => eventView(event, speed);
          if (event.type === "progress") throttle.progress(event.item.id, make);
          else throttle.other(event.item.id, make);
        });
        const ping = setInterval(() => res.write(": ping\n\n"), PING_MS);
        ping.unref();
        const close = () => {
          off();
          throttle.close();
          clearInterval(ping);
          deps.streams.delete(end);
        };
        function end() {
          close();
          res.end();
        }
        deps.streams.add(end);
        res.on("close", close);
      },
    );
  };
}

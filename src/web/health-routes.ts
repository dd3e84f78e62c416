import type { FastifyInstance } from "fastify";
import { Counter, Gauge, Registry } from "prom-client";
import type { Db } from "../db/database.ts";
import { countByStatus, countQueued } from "../db/item-query-repository.ts";
import { STATUSES } from "./api-view.ts";
import type { TelegramWatch } from "./telegram-watch.ts";
import type { WebStats } from "./web-stats.ts";

export interface HealthDeps {
  db: Db;
  watch: TelegramWatch;
  stats: WebStats;
}

/** The metrics, each read when Prometheus asks (a registry of its own: tests run several bots in one process). */
function metricsRegistry(deps: HealthDeps): Registry {
  const registers = [new Registry()];
  const [registry] = registers as [Registry];
  new Gauge({
    name: "dlbot_items",
    help: "Items in the database by status",
    labelNames: ["status"],
    registers,
    async collect() {
      const counts = await countByStatus(deps.db);
      for (const status of STATUSES) this.set({ status }, counts[status] ?? 0);
    },
  });
  new Gauge({
    name: "dlbot_queue_length",
    help: "Items waiting in line (queued, a retry's wait included)",
    registers,
    async collect() {
      this.set(await countQueued(deps.db));
    },
  });
  new Gauge({
    name: "dlbot_running_item_bytes_per_second",
    help: "The running item's speed, by phase (downloading, uploading); none while nothing runs",
    labelNames: ["phase"],
    registers,
    collect() {
      this.reset();
      const running = deps.stats.running;
      if (running) this.set({ phase: running.phase }, running.speed ?? 0);
    },
  });
  new Counter({
    name: "dlbot_downloaded_bytes_total",
    help: "Bytes downloaded since the start",
    registers,
    collect() {
      this.reset();
      this.inc(deps.stats.downloadedBytes);
    },
  });
  new Counter({
    name: "dlbot_uploaded_bytes_total",
    help: "Bytes delivered into chats since the start",
    registers,
    collect() {
      this.reset();
      this.inc(deps.stats.uploadedBytes);
    },
  });
  new Counter({
    name: "dlbot_failures_total",
    help: "Failed attempts by error code; final=true: the item failed for good, false: it is retried",
    labelNames: ["code", "final"],
    registers,
    collect() {
      this.reset();
      for (const f of deps.stats.failures.values()) this.inc({ code: f.code, final: String(f.final) }, f.count);
    },
  });
  new Counter({
    name: "dlbot_telegram_api_errors_total",
    help: "Calls Telegram answered with an error (or never answered: code=network), by method",
    labelNames: ["method", "code"],
    registers,
    collect() {
      this.reset();
      for (const e of deps.watch.errors.values()) this.inc({ method: e.method, code: e.code }, e.count);
    },
  });
  return registry;
}

/**
 * `GET /healthz`: 200 while the database answers and polling is alive, 503 otherwise, with what
 * was found. `GET /metrics`: Prometheus' text format. Neither needs a token: they say nothing of
 * any chat, and the server listens on loopback unless told otherwise.
 */
export function healthRoutes(deps: HealthDeps) {
  const registry = metricsRegistry(deps);
  return async (app: FastifyInstance) => {
    app.get("/healthz", { schema: { summary: "200 while the database answers and the bot polls Telegram, else 503" } }, async (_req, reply) => {
      const database = await countQueued(deps.db).then(
        () => "ok" as const,
        () => "failing" as const,
      );
      const polling = deps.watch.pollingAlive() ? ("ok" as const) : ("stopped" as const);
      const healthy = database === "ok" && polling === "ok";
      return reply.status(healthy ? 200 : 503).send({ status: healthy ? "ok" : "unhealthy", database, polling });
    });
    app.get("/metrics", { schema: { summary: "Prometheus metrics", produces: ["text/plain"] } }, async (_req, reply) => {
      return reply.type(registry.contentType).send(await registry.metrics());
    });
  };
}

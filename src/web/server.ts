import fastifySwagger from "@fastify/swagger";
import Fastify from "fastify";
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import type { Db } from "../db/database.ts";
import type { Logger } from "../logger.ts";
import type { ChoiceControl } from "../queue/choice-control.ts";
import type { QueueEvents } from "../queue/events.ts";
import type { QueueControl } from "../queue/queue-control.ts";
import type { Authenticator, Caller } from "./auth.ts";
import { eventsRoute } from "./events-route.ts";
import { healthRoutes } from "./health-routes.ts";
import { HttpFailure, errorHandler } from "./http-errors.ts";
import { itemRoutes } from "./item-routes.ts";
import { miniAppRoutes } from "./mini-app-routes.ts";
import { queueRoutes } from "./queue-routes.ts";
import { RateLimiter } from "./rate-limit.ts";
import type { TelegramWatch } from "./telegram-watch.ts";
import type { WebIntake } from "./web-intake.ts";
import type { WebStats } from "./web-stats.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** Who asks, set by the /api scope's first hook (see `auth.ts`). */
    caller: Caller;
  }
}

export interface ServerDeps {
  port: number;
  host: string;
  rateLimitPerMinute: number;
  logger: Logger;
  db: Db;
  events: QueueEvents;
  control: QueueControl;
  choices: ChoiceControl;
  intake: WebIntake;
  auth: Authenticator;
  watch: TelegramWatch;
  stats: WebStats;
  now?: () => number;
}

export interface RunningServer {
  /** Where it listens, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  close(): Promise<void>;
}

/** The largest request body (a link and a few fields; a batch of 100 ids). */
const BODY_LIMIT_BYTES = 16 * 1024;

/**
 * The web server, one Fastify instance with a plugin per area: health and metrics, the API
 * (every route behind one hook that finds the caller and applies the rate limit), the Mini App.
 * zod schemas validate every request and shape every answer, and make the OpenAPI file served at
 * `/api/openapi.json`. Fastify's own logger stays off: the bot's logger (which scrubs the token)
 * logs what fails.
 */
export async function startServer(deps: ServerDeps): Promise<RunningServer> {
  const now = deps.now ?? Date.now;
  const app = Fastify({ logger: false, bodyLimit: BODY_LIMIT_BYTES, forceCloseConnections: true, return503OnClosing: true });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler(deps.logger));
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: { code: "NOT_FOUND", message: `nothing at ${req.method} ${req.url.split("?")[0]}` } }));

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: "Telegram download bot", version: "1", description: "The queue of one chat, as its API token (or Mini App user) sees it." },
      components: {
        securitySchemes: {
          apiToken: { type: "http", scheme: "bearer", description: "a token from /apitoken in the chat" },
          miniApp: { type: "apiKey", in: "header", name: "Authorization", description: "tma <initData> (the Mini App; X-Chat-Id picks one of the user's chats)" },
        },
      },
      security: [{ apiToken: [] }, { miniApp: [] }],
    },
    transform: jsonSchemaTransform,
  });
  app.get("/api/openapi.json", { schema: { hide: true } }, () => app.swagger());

  await app.register(healthRoutes({ db: deps.db, watch: deps.watch, stats: deps.stats }));

  const streams = new Set<() => void>();
  const limiter = new RateLimiter(deps.rateLimitPerMinute);
  await app.register(
    async (api) => {
      api.decorateRequest("caller", null as unknown as Caller);
      // Before the body is read: a request without a valid token is refused whatever it carries.
      api.addHook("onRequest", async (req, reply) => {
        req.caller = await deps.auth.caller(req.headers);
        const waitMs = limiter.take(req.caller.key, now());
        if (waitMs > 0) {
          reply.header("retry-after", String(Math.ceil(waitMs / 1000)));
          throw new HttpFailure(429, "RATE_LIMITED", `too many requests: ${deps.rateLimitPerMinute} a minute at most`);
        }
      });
      await api.register(queueRoutes({ control: deps.control }));
      await api.register(itemRoutes({ db: deps.db, control: deps.control, choices: deps.choices, intake: deps.intake }));
      await api.register(eventsRoute({ events: deps.events, streams }));
    },
    { prefix: "/api" },
  );
  await app.register(await miniAppRoutes());

  const address = await app.listen({ port: deps.port, host: deps.host });
  return {
    url: address,
    async close() {
      for (const end of [...streams]) end();
      await app.close();
    },
  };
}

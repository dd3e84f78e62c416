import type { Bot, Context } from "grammy";
import type { Acknowledger } from "../bot/chat-reporter.ts";
import type { ChatSettingsOf } from "../chats/chat-settings.ts";
import type { Config } from "../config.ts";
import type { Db } from "../db/database.ts";
import type { RequestQueue } from "../intake/request-queue.ts";
import type { Logger } from "../logger.ts";
import { ChoiceControl } from "../queue/choice-control.ts";
import type { QueueEvents } from "../queue/events.ts";
import type { QueueControl } from "../queue/queue-control.ts";
import { ApiTokens } from "./api-tokens.ts";
import { Authenticator } from "./auth.ts";
import { ChatAccess } from "./chat-access.ts";
import { initDataKey } from "./init-data.ts";
import type { RunningServer } from "./server.ts";
import { TelegramWatch } from "./telegram-watch.ts";
import { webCommandsFeature } from "./web-commands.ts";
import { WebIntake } from "./web-intake.ts";
import { WebStats } from "./web-stats.ts";

export interface WebDeps {
  config: Config;
  logger: Logger;
  bot: Bot<Context>;
  db: Db;
  events: QueueEvents;
  control: QueueControl;
  requests: Pick<RequestQueue, "submit">;
  /** Looks at the queue again (an item chosen for is back in line). */
  worker: { notify(): void };
  /** The chat side's record of answers (an item added over the web has none in the chat). */
  acks: Pick<Acknowledger, "decline">;
  /** Whether ffmpeg is there for `/audio`. */
  audio: boolean;
  /** A chat's settings (its quality cap applies to what it adds over the web). */
  settingsOf: ChatSettingsOf;
}

export interface Web {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The web side (`src/web/`): the /apitoken command, and, when `web.port` is set, the HTTP server
 * with the API, its events, health and metrics. Built by `app.ts` before the catch-all feature
 * (the command must come first); the server itself, and Fastify with it, is loaded only by a
 * start with the port set, so a bot without it carries none of it.
 */
export function createWeb(deps: WebDeps): Web {
  const { config, logger, bot, db } = deps;
  const web = config.web;
  const tokens = new ApiTokens(db);
  bot.use(webCommandsFeature({ tokens, serving: web.port !== undefined, ...(web.publicUrl ? { publicUrl: web.publicUrl } : {}), logger }));
  if (web.port === undefined) return { start: async () => {}, stop: async () => {} };
  const port = web.port;

  // Installed now, so it sees polling from its first call.
  const watch = new TelegramWatch();
  watch.install(bot.api);
  const stats = new WebStats();
  const control = deps.control;
  const choices = new ChoiceControl({ db, events: deps.events, notify: () => deps.worker.notify() });
  const intake = new WebIntake({ requests: deps.requests, control, acks: deps.acks, settingsOf: deps.settingsOf, audio: deps.audio });
  const auth = new Authenticator({
    tokens,
    access: new ChatAccess({ api: bot.api, allowedChatIds: config.allowedChatIds, logger: logger.child({ part: "web" }) }),
    initDataKey: initDataKey(config.botToken),
  });
  let server: RunningServer | undefined;
  let unsubscribe: (() => void) | undefined;

  return {
    async start() {
      unsubscribe = deps.events.onAny((event) => stats.see(event));
      const { startServer } = await import("./server.ts");
      server = await startServer({ port, host: web.host, rateLimitPerMinute: web.rateLimitPerMinute, logger: logger.child({ part: "web" }), db, events: deps.events, control, choices, intake, auth, watch, stats });
      logger.info({ url: server.url, publicUrl: web.publicUrl }, "web server listening");
    },
    async stop() {
      unsubscribe?.();
      await server?.close();
      server = undefined;
    },
  };
}

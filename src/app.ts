import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { Bot, Context } from "grammy";
import type { BotCommand } from "grammy/types";
import { createBot } from "./bot/create-bot.ts";
import { accessFeature } from "./bot/features/access.ts";
import { downloadFeature } from "./bot/features/download.ts";
import { helpFeature } from "./bot/features/help.ts";
import { MessageEditor } from "./bot/message-editor.ts";
import { TaskRunner } from "./bot/task-runner.ts";
import type { Config } from "./config.ts";
import { type Db, migrateToLatest, openDatabase } from "./db/database.ts";
import type { Logger } from "./logger.ts";
import type { Resolver } from "./net/address-guard.ts";
import { createHttpClient } from "./net/http-client.ts";
import type { IntakeDeps } from "./queue/intake.ts";
import { QueueWorker } from "./queue/worker.ts";
import { createCrawlerSource } from "./sources/crawler-source.ts";
import { createDirectSource } from "./sources/direct-source.ts";

export interface AppOptions {
  logger: Logger;
  /** Replaces DNS for fetched URLs (tests). */
  resolve?: Resolver;
  /** Addresses the private-network guard lets through (tests' loopback fixtures). */
  trustedAddresses?: readonly string[];
  /** Free bytes on the data disk (tests). */
  freeBytes?: (dir: string) => Promise<number>;
}

export interface App {
  readonly bot: Bot<Context>;
  readonly db: Db;
  readonly worker: QueueWorker;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves when polling ends on its own (a fatal error such as a revoked token). */
  readonly stopped: Promise<void>;
}

export const COMMANDS: BotCommand[] = [
  { command: "download", description: "Download a link and send the file here" },
  { command: "torrent", description: "Download a magnet link or .torrent" },
  { command: "help", description: "What this bot does" },
];

/**
 * The composition root's body: builds every part from the config and hands each its
 * dependencies. `main.ts` adds the process concerns (config file, signals, exit codes); tests
 * create an App directly against the Bot API test double.
 */
export async function createApp(config: Config, options: AppOptions): Promise<App> {
  const { logger } = options;
  await mkdir(path.resolve(config.dataDir, "downloads"), { recursive: true });
  const db = openDatabase(path.resolve(config.dataDir, "bot.sqlite"));
  try {
    const applied = await migrateToLatest(db);
    if (applied.length) logger.info({ applied }, "database migrated");
  } catch (error) {
    await db.destroy();
    throw error;
  }

  const bot = createBot({ token: config.botToken, apiRoot: config.apiRoot, logger });
  const http = createHttpClient({
    allowPrivateNetworks: config.allowPrivateNetworks,
    resolve: options.resolve,
    trustedAddresses: options.trustedAddresses,
  });
  const editor = new MessageEditor(bot.api, config.progressIntervalMs, logger.child({ part: "editor" }));
  const tasks = new TaskRunner(logger);
  const intake: IntakeDeps = {
    db,
    http,
    logger,
    maxFileSizeBytes: config.maxFileSizeBytes,
    // Called only after start-up, once `worker` below exists.
    onQueued: () => worker.notify(),
  };
  const worker = new QueueWorker({
    db,
    api: bot.api,
    editor,
    logger: logger.child({ part: "worker" }),
    config,
    sources: {
      direct: createDirectSource({ http, stallTimeoutMs: config.stallTimeoutMs }),
      crawler: createCrawlerSource({
        http,
        intake,
        maxItems: config.crawlMaxItems,
        stallTimeoutMs: config.stallTimeoutMs,
        notify: async (chatId, html, replyTo) => {
          await bot.api.sendMessage(chatId, html, {
            parse_mode: "HTML",
            link_preview_options: { is_disabled: true },
            ...(replyTo ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } } : {}),
          });
        },
      }),
    },
    freeBytes: options.freeBytes,
  });
  bot.use(accessFeature(config.allowedChatIds, logger));
  bot.use(helpFeature());
  bot.use(downloadFeature({ intake, tasks }));

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let polling: Promise<void> | undefined;

  return {
    bot,
    db,
    worker,
    stopped,
    async start() {
      await bot.init();
      await bot.api.setMyCommands(COMMANDS).catch((error) => logger.warn({ err: String(error) }, "setMyCommands failed"));
      await worker.start();
      polling = new Promise<void>((resolve, reject) => {
        bot
          .start({
            allowed_updates: ["message", "callback_query"],
            onStart: () => resolve(),
          })
          .then(resolveStopped, (error) => {
            logger.fatal({ err: error instanceof Error ? error.message : String(error) }, "polling stopped");
            reject(error);
            resolveStopped();
          });
      });
      await polling;
      logger.info({ bot: bot.botInfo.username, apiRoot: config.apiRoot }, "bot started");
    },
    async stop() {
      await Promise.allSettled([bot.isRunning() ? bot.stop() : Promise.resolve(), worker.stop(4000)]);
      await tasks.drain(2000);
      await editor.flush(1500);
      editor.close();
      await db.destroy();
      logger.info("stopped");
    },
  };
}

import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { Bot, Context } from "grammy";
import type { BotCommand } from "grammy/types";
import { createBot } from "./bot/create-bot.ts";
import { accessFeature } from "./bot/features/access.ts";
import { detachedUpdates } from "./bot/features/detached-updates.ts";
import { type DownloadFeatureDeps, downloadFeature } from "./bot/features/download.ts";
import { helpFeature } from "./bot/features/help.ts";
import { queueControlFeature, unhandledButtonsFeature } from "./bot/features/queue-control.ts";
import { progressKeyboard } from "./bot/keyboards.ts";
import { createRedeliverer } from "./bot/redelivery.ts";
import { MessageEditor } from "./bot/message-editor.ts";
import { TaskRunner } from "./bot/task-runner.ts";
import type { Config } from "./config.ts";
import { type Db, migrateToLatest, openDatabase } from "./db/database.ts";
import type { Logger } from "./logger.ts";
import type { Resolver } from "./net/address-guard.ts";
import { createHttpClient } from "./net/http-client.ts";
import type { IntakeDeps } from "./queue/intake.ts";
import { TransientNotices } from "./queue/notices.ts";
import { QueueControl } from "./queue/queue-control.ts";
import { QueueWorker, statfsFreeBytes } from "./queue/worker.ts";
import { createCrawlerSource } from "./sources/crawler-source.ts";
import { createDirectSource } from "./sources/direct-source.ts";
import { telegramFileFetcher, torrentFeature, torrentRouter } from "./bot/features/torrent.ts";
import { TorrentClientHolder } from "./sources/torrent-client.ts";
import { TorrentSeeding } from "./sources/torrent-seeding.ts";
import { createTorrentSource } from "./sources/torrent-source.ts";

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
  { command: "queue", description: "What is downloading and waiting" },
  { command: "status", description: "Counts, pause state, active download, free disk" },
  { command: "cancel", description: "Cancel a download: /cancel 12, or reply to its message" },
  { command: "retry", description: "Queue a failed or cancelled download again" },
  { command: "pause", description: "Pause the whole queue (or one item: /pause 12)" },
  { command: "resume", description: "Resume the queue (or one item: /resume 12)" },
  { command: "priority", description: "Reorder: /priority 12 high|normal|low" },
  { command: "history", description: "The last finished downloads" },
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
  const notices = new TransientNotices(bot.api, config.noticeTtlMs, logger.child({ part: "notices" }));
  const intake: IntakeDeps = {
    db,
    http,
    logger,
    maxFileSizeBytes: config.maxFileSizeBytes,
    // Called only after start-up, once `worker` below exists.
    onQueued: () => worker.notify(),
  };
  const policy = { allowPrivate: config.allowPrivateNetworks, trusted: options.trustedAddresses };
  // One WebTorrent client for all torrents, opened on first use and destroyed in stop().
  const torrents = new TorrentClientHolder({ torrent: config.torrent, policy, logger: logger.child({ part: "torrent" }) });
  const seeding = config.torrent.seed
    ? new TorrentSeeding({ dir: path.resolve(config.dataDir, "seeding"), clients: torrents, logger: logger.child({ part: "seeding" }) })
    : undefined;
  const worker = new QueueWorker({
    db,
    api: bot.api,
    editor,
    logger: logger.child({ part: "worker" }),
    config,
    sources: {
      direct: createDirectSource({ http, stallTimeoutMs: config.stallTimeoutMs }),
      torrent: createTorrentSource({
        db,
        clients: torrents,
        http,
        policy,
        resolve: options.resolve,
        metadataTimeoutMs: config.torrent.metadataTimeoutMs,
        // Swarms come and go: a torrent counts as stalled only after the longer of the two waits.
        stallTimeoutMs: Math.max(config.stallTimeoutMs, config.torrent.metadataTimeoutMs),
        seeding,
        notify: async (item, html) => {
          await bot.api.sendMessage(item.chatId, html, {
            parse_mode: "HTML",
            link_preview_options: { is_disabled: true },
            ...(item.requestMessageId ? { reply_parameters: { message_id: item.requestMessageId, allow_sending_without_reply: true } } : {}),
          });
        },
      }),
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
    keyboard: (item, state) => progressKeyboard(item.id, state),
    // `control` (below) exists before the worker starts, which is when these are first called.
    isQueuePaused: (): boolean => control.queuePaused,
    onFinal: (item, outcome, messageId, kind) => {
      if (kind === "notice") {
        void control.recordMessage(item.chatId, messageId, [item.id]).catch((error) => logger.warn({ err: String(error) }, "could not record a message"));
      }
      // The file (or the page summary) stays in the chat; the line about it goes after a while.
      // Failures stay.
      if (outcome !== "failed") notices.schedule(item.chatId, messageId);
    },
  });
  const control: QueueControl = new QueueControl({
    db,
    worker,
    editor,
    notices,
    dataDir: config.dataDir,
    logger: logger.child({ part: "control" }),
    freeBytes: options.freeBytes ?? statfsFreeBytes,
    keyboard: (item, state) => progressKeyboard(item.id, state),
  });
  /** Acknowledgements of /download and "Download again": remembered per item, deleted later. */
  const onReply: NonNullable<DownloadFeatureDeps["onReply"]> = (reply, outcomes, transient) => {
    const ids = outcomes.flatMap((o) => (o.status === "refused" ? [] : [o.item.id]));
    void control.recordMessage(reply.chat.id, reply.message_id, ids).catch((error) => logger.warn({ err: String(error) }, "could not record a message"));
    if (transient) notices.schedule(reply.chat.id, reply.message_id);
  };
  bot.use(detachedUpdates(tasks));
  bot.use(accessFeature(config.allowedChatIds, logger));
  bot.use(helpFeature());
  bot.use(downloadFeature({ intake, routeSpecial: torrentRouter(intake), redeliver: createRedeliverer({ db, api: bot.api, logger }), onReply }));
  bot.use(
    torrentFeature({
      intake,
      logger,
      fetchFile: telegramFileFetcher(bot.api, { apiRoot: config.apiRoot, token: config.botToken }),
    }),
  );
  bot.use(queueControlFeature({ control, intake, tasks, notices, logger, onReply }));

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
      await control.load();
      // Registered here so it is last whatever the features above: a press nobody handled is answered.
      bot.use(unhandledButtonsFeature());
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
      seeding?.close();
      await torrents.destroy();
      await tasks.drain(2000);
      notices.stop();
      await editor.flush(1500);
      editor.close();
      await db.destroy();
      logger.info("stopped");
    },
  };
}

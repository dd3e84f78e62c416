import { mkdir } from "node:fs/promises";
import path from "node:path";
import { type RunnerHandle, run, sequentialize } from "@grammyjs/runner";
import type { Bot, Context } from "grammy";
import { COMMANDS, updateOrderKey } from "./bot/commands.ts";
import { ChatReporter } from "./bot/chat-reporter.ts";
import { ChoiceQuestions } from "./bot/choice-questions.ts";
import { choiceFeature } from "./bot/features/choice.ts";
import { ChoiceControl } from "./queue/choice-control.ts";
import { createBot, identifyBot } from "./bot/create-bot.ts";
import { accessFeature } from "./bot/features/access.ts";
import { downloadFeature } from "./bot/features/download.ts";
import { helpFeature } from "./bot/features/help.ts";
import { plainMessagesFeature } from "./bot/features/plain-messages.ts";
import { settingsFeature } from "./bot/features/settings.ts";
import { queueControlFeature, unhandledButtonsFeature } from "./bot/features/queue-control.ts";
import { torrentFeature } from "./bot/features/torrent.ts";
import { MessageEditor } from "./bot/message-editor.ts";
import { observeMessages } from "./bot/observe-sent.ts";
import { TransientNotices } from "./bot/notices.ts";
import { createRedeliverer } from "./bot/redelivery.ts";
import { RequestAnswers } from "./bot/request-answers.ts";
import { TaskRunner } from "./bot/task-runner.ts";
import { LOCAL_TORRENT_FILE_BYTES, telegramFileFetcher } from "./bot/telegram-file-fetcher.ts";
import { checkLocalServerReads } from "./bot/local-bot-api.ts";
import { createFileUploader, createGroupUploader } from "./bot/uploader.ts";
import type { Config } from "./config.ts";
import { type Db, openMigrated } from "./db/database.ts";
import { chatSettings } from "./db/chat-settings-repository.ts";
import { type ChatSettingsOf, asks, settingsDefaults } from "./chats/chat-settings.ts";
import { type IntakeDeps, enqueueUrl } from "./intake/intake.ts";
import { findMediaTools } from "./tools/ffmpeg.ts";
import { ToolProcesses } from "./tools/tool-processes.ts";
import { createUploadPreparer } from "./media/prepare-upload.ts";
import { createSiteMatcher, findYtDlp, ytDlpVersion } from "./tools/yt-dlp.ts";
import { createSiteDownloader, createSiteSource } from "./sources/site-source.ts";
import { createRequestHandler } from "./intake/request-handler.ts";
import { RequestQueue } from "./intake/request-queue.ts";
import type { Logger } from "./logger.ts";
import type { Resolver } from "./net/address-guard.ts";
import { createHttpClient } from "./net/http-client.ts";
import { QueueControl } from "./queue/queue-control.ts";
import { QueueEvents } from "./queue/events.ts";
import { QueueWorker } from "./queue/worker.ts";
import { createCrawlerSource } from "./sources/crawler-source.ts";
import { createDirectSource } from "./sources/direct-source.ts";
import { loadedOnUse } from "./sources/lazy-source.ts";
import { GuardedProxy } from "./net/guarded-proxy.ts";
import { TorrentClientHolder } from "./sources/torrent/torrent-client.ts";
import { DataDisk } from "./storage/data-disk.ts";
import { type SubscriptionOptions, type Subscriptions, createSubscriptions } from "./app-subscriptions.ts";
import { type Heartbeat, startHeartbeat } from "./heartbeat.ts";
import { createWeb } from "./web/web.ts";

export interface AppOptions {
  logger: Logger;
  /** Replaces DNS for fetched URLs (tests). */
  resolve?: Resolver;
  /** Addresses the private-network guard lets through (tests' loopback fixtures). */
  trustedAddresses?: readonly string[];
  /** Free bytes on the data disk (tests). */
  freeBytes?: (dir: string) => Promise<number>;
  /** How long polling may meet 409 Conflict before it ends (default a minute). */
  conflictLimitMs?: number;
  /** How long yt-dlp may take to read a page (default 30 s; tests). */
  ytDlpMetadataTimeoutMs?: number;
  /** The subscriptions' clock and spacing (tests). */
  subscriptions?: SubscriptionOptions;
}

export interface App {
  readonly bot: Bot<Context>;
  readonly db: Db;
  readonly worker: QueueWorker;
  /** The chat side of the queue (tests look at what it keeps). */
  readonly reporter: ChatReporter;
  /** The subscriptions (/watch): tests listen to their checks. */
  readonly subscriptions: Subscriptions;
  /** Settles once the background checks of the start are done (yt-dlp's version). */
  readonly toolsChecked: Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Resolves when polling ends: with the error that ended it on its own (a revoked token, a
   * lasting conflict with another process), with undefined after `stop()`.
   */
  readonly stopped: Promise<unknown>;
}

/**
 * The composition root's body: builds every part from the config and hands each its
 * dependencies. `main.ts` adds the process concerns (config file, signals, exit codes); tests
 * create an App directly against the Bot API test double.
 */
export async function createApp(config: Config, options: AppOptions): Promise<App> {
  const { logger } = options;
  await mkdir(path.resolve(config.dataDir, "downloads"), { recursive: true });
  const disk = new DataDisk({ dir: path.resolve(config.dataDir), logger: logger.child({ part: "disk" }), freeBytes: options.freeBytes });
  const db = await openMigrated(path.resolve(config.dataDir, "bot.sqlite"), { logger, releaseSpace: () => disk.releaseBallast() });

  const bot = createBot({ token: config.botToken, apiRoot: config.apiRoot, logger, conflictLimitMs: options.conflictLimitMs });
  const http = createHttpClient({
    allowPrivateNetworks: config.allowPrivateNetworks,
    resolve: options.resolve,
    trustedAddresses: options.trustedAddresses,
  });
  const editor = new MessageEditor(bot.api, config.progressIntervalMs, logger.child({ part: "editor" }));
  const tasks = new TaskRunner(logger);
  const notices = new TransientNotices(bot.api, config.noticeTtlMs, logger.child({ part: "notices" }));
  const questions = new ChoiceQuestions({ api: bot.api, db, editor, logger: logger.child({ part: "choice" }) });
  const reporter = new ChatReporter({ api: bot.api, db, editor, notices, questions, adminChatIds: config.adminChatIds, logger: logger.child({ part: "chat" }) });
  // The queue announces what happens to items; the chat side is one listener of it.
  const events = new QueueEvents(logger.child({ part: "events" }));
  reporter.attach(events);

  const policy = { allowPrivate: config.allowPrivateNetworks, trusted: options.trustedAddresses };
  // What every HTTP transfer must keep up: a byte now and then, and a floor on its average speed.
  const limits = {
    stallTimeoutMs: config.stallTimeoutMs,
    minSpeed: { bytesPerSec: config.minSpeedBytesPerSec, windowMs: config.speedWindowMs },
  };
  // One WebTorrent client for all torrents, opened on first use and destroyed in stop().
  const torrents = new TorrentClientHolder({ torrent: config.torrent, policy, resolve: options.resolve, logger: logger.child({ part: "torrent" }) });
  const seeding = config.torrent.seed
    ? new (await import("./sources/torrent/torrent-seeding.ts")).TorrentSeeding({ dir: path.resolve(config.dataDir, "seeding"), clients: torrents, logger: logger.child({ part: "seeding" }) })
    : undefined;
  // The checks every link goes through before it is queued, pasted or found on a page.
  const checks = {
    db,
    http,
    logger,
    maxFileSizeBytes: config.maxFileSizeBytes,
    uploadLimitBytes: config.uploadLimitBytes,
    splitLargeFiles: config.splitLargeFiles,
    torrentMaxFiles: config.torrent.maxFiles,
  };
  // Every tool process is recorded, so a start after a crash ends those left running.
  const toolProcesses = new ToolProcesses(path.resolve(config.dataDir, "tools.pids"), logger.child({ part: "tools" }));
  const mediaTools = findMediaTools(config, logger, toolProcesses);
  const ytDlp = findYtDlp(config.ytDlpPath);
  // Asked once at start, in the background: sites break as yt-dlp ages, and /status says so.
  let ytDlpRelease: string | undefined;
  let toolsChecked: Promise<void> = Promise.resolve();
  const startup = new AbortController();
  if (!ytDlp) logger.warn("yt-dlp not found: pages are read by the built-in reader only");
  const ytDlpDownloader = ytDlp
    ? createSiteDownloader({
        bin: ytDlp,
        tools: mediaTools,
        proxyUrl: () => proxy.url,
        cookiesFile: config.ytDlpCookiesFile,
        maxItems: config.crawlMaxItems,
        workDir: path.resolve(config.dataDir, "tools"),
        stallTimeoutMs: config.stallTimeoutMs,
        minSpeed: limits.minSpeed,
        processes: toolProcesses,
        ...(options.ytDlpMetadataTimeoutMs ? { metadataTimeoutMs: options.ytDlpMetadataTimeoutMs } : {}),
      })
    : undefined;
  // yt-dlp does its own networking: only through this proxy, which applies the guard.
  const proxy = new GuardedProxy(policy, logger.child({ part: "proxy" }), options.resolve);
  // Each chat's /settings over the config's values, read as an item runs and goes up.
  const defaults = settingsDefaults(config);
  const settingsOf: ChatSettingsOf = (chatId) => chatSettings(db, chatId, defaults);
  const uploaderOptions = { uploadAsIn: async (chatId: number) => (await settingsOf(chatId)).uploadAs, media: mediaTools, localBotApi: config.localBotApi };
  const worker = new QueueWorker({
    db,
    logger: logger.child({ part: "worker" }),
    config,
    disk,
    events,
    upload: createFileUploader(bot.api, uploaderOptions),
    uploadGroup: createGroupUploader(bot.api, uploaderOptions),
    ...createUploadPreparer({
      tools: mediaTools,
      limit: config.uploadLimitBytes, split: config.splitLargeFiles, localBotApi: config.localBotApi, early: config.uploadWhileDownloading,
      disk,
      logger: logger.child({ part: "media" }),
      settingsOf,
    }),
    askBefore: async (chatId) => asks(await settingsOf(chatId)),
    // Found while the worker runs an item (with its wishes): it looks at the queue again when that item ends.
    enqueue: (of, found) =>
      enqueueUrl(checks, { chatId: of.chatId, userId: of.userId, requestMessageId: of.requestMessageId, wants: of.wants, ...found }),
    // Each kind of link has its source; the direct one hands an item to the others (reroute).
    sources: {
      direct: createDirectSource({
        http,
        limits,
        connections: config.connectionsPerDownload,
        // As the stream and site sources below are there or not.
        streams: mediaTools !== undefined,
        ...(ytDlpDownloader && ytDlp ? { sites: createSiteMatcher(ytDlp, toolProcesses) } : {}),
      }),
      // These two load their modules with their first item (loadedOnUse).
      ...(mediaTools ? { stream: loadedOnUse("stream", async () => (await import("./sources/stream-source.ts")).createStreamSource({ http, tools: mediaTools, limits, connections: config.connectionsPerDownload })) } : {}),
      ...(ytDlpDownloader ? { site: createSiteSource(ytDlpDownloader) } : {}),
      torrent: loadedOnUse("torrent", async () => (await import("./sources/torrent/torrent-source.ts")).createTorrentSource({
        db,
        clients: torrents,
        http,
        policy,
        resolve: options.resolve,
        metadataTimeoutMs: config.torrent.metadataTimeoutMs,
        maxFiles: config.torrent.maxFiles,
        maxTrackers: config.torrent.maxTrackers,
        // Swarms come and go: a torrent counts as stalled only after the longer of the two waits.
        stallTimeoutMs: Math.max(config.stallTimeoutMs, config.torrent.metadataTimeoutMs),
        seeding,
      })),
      crawler: createCrawlerSource({
        http,
        maxItems: config.crawlMaxItems,
        stallTimeoutMs: config.stallTimeoutMs,
        ...(ytDlpDownloader ? { ytdlp: ytDlpDownloader } : {}),
      }),
    },
  });
  const intake: IntakeDeps = { ...checks, onQueued: () => worker.notify() };
  // What people ask for is stored first, then checked outside the chat's turn.
  const requests = new RequestQueue({
    db,
    logger: logger.child({ part: "intake" }),
    handle: createRequestHandler({
      intake,
      redeliver: createRedeliverer({ db, api: bot.api, logger }),
      // A local server hands out files from its disk, past the cloud's 20 MB.
      fetchDocument: telegramFileFetcher(bot.api, { apiRoot: config.apiRoot, token: config.botToken, ...(config.localBotApi ? { maxBytes: LOCAL_TORRENT_FILE_BYTES } : {}) }),
    }),
  });
  const ytDlpList = ytDlp ? { bin: ytDlp, proxyUrl: () => proxy.url, processes: toolProcesses, timeoutMs: options.ytDlpMetadataTimeoutMs } : undefined;
  const subscriptions = createSubscriptions({ db, http, api: bot.api, logger: logger.child({ part: "subscriptions" }), config, checks, onQueued: () => worker.notify(), settingsOf, audio: mediaTools !== undefined, ytDlp: ytDlpList, ...options.subscriptions });
  const answers = new RequestAnswers({ api: bot.api, requests, editor, acks: reporter, tasks, logger, queuePaused: () => worker.queuePaused });
  const control = new QueueControl({
    db,
    worker,
    events,
    disk,
    ytDlp: ytDlp !== undefined,
    ytDlpVersion: () => ytDlpRelease,
    adminChatIds: config.adminChatIds,
    logger: logger.child({ part: "control" }),
  });

  observeMessages(bot, config.allowedChatIds, (chatId, messageId) => reporter.observe(chatId, messageId));
  // Every update is tracked so that shutdown can let the ones in flight finish.
  bot.use((_ctx, next) => tasks.track(next()));
  bot.use(sequentialize(updateOrderKey));
  bot.use(accessFeature(config.allowedChatIds, logger));
  bot.use((ctx, next) => {
    if (ctx.msg && ctx.chat) reporter.observe(ctx.chat.id, ctx.msg.message_id);
    return next();
  });
  // First of the features: the menu plugin's middleware renders the /settings menu and takes its presses.
  const view = { uploadLimitBytes: config.uploadLimitBytes, splitLargeFiles: config.splitLargeFiles };
  bot.use(settingsFeature({ db, defaults, view, logger: logger.child({ part: "settings" }) }));
  bot.use(helpFeature());
  bot.use(downloadFeature({ answers, audio: mediaTools !== undefined, qualityCap: async (chatId) => (await settingsOf(chatId)).qualityCap }));
  bot.use(torrentFeature({ answers, ...(config.localBotApi ? { maxTorrentBytes: LOCAL_TORRENT_FILE_BYTES } : {}) }));
  bot.use(queueControlFeature({ control, answers, acks: reporter, logger }));
  bot.use(subscriptions.feature);
  bot.use(choiceFeature({ choices: new ChoiceControl({ db, events, notify: () => worker.notify() }), questions, logger }));
  const web = createWeb({ config, logger, bot, db, events, control, requests, worker, acks: reporter, audio: mediaTools !== undefined, settingsOf });
  // Last: what no command took.
  bot.use(plainMessagesFeature({ answers }));

  let resolveStopped!: (error?: unknown) => void;
  const stopped = new Promise<unknown>((r) => (resolveStopped = r));
  let runner: RunnerHandle | undefined;
  let heartbeat: Heartbeat | undefined;

  return {
    bot,
    db,
    worker,
    reporter,
    subscriptions,
    get toolsChecked() {
      return toolsChecked;
    },
    stopped,
    async start() {
      await identifyBot(bot, config.apiRoot);
      if (config.localBotApi) await checkLocalServerReads(bot.api, { dataDir: config.dataDir, chatId: config.adminChatIds[0]!, logger });
      await bot.api.setMyCommands(COMMANDS).catch((error) => logger.warn({ err: String(error) }, "setMyCommands failed"));
      // Registered here so it is last whatever the features above: a press nobody handled is answered.
      bot.use(unhandledButtonsFeature());
      await proxy.start();
      // Before the worker touches any item's folder: a tool a crashed run left writes no more.
      await toolProcesses.reapLeftovers();
      if (ytDlp) {
        toolsChecked = ytDlpVersion(ytDlp, { signal: startup.signal, processes: toolProcesses }).then((version) => {
          ytDlpRelease = version;
          logger.info({ version: version ?? "unknown", path: ytDlp }, "yt-dlp");
        });
      }
      await worker.start();
      // Checks that fell due while the bot was down run now, one at a time.
      subscriptions.start();
      // What the container's health check reads: the process is alive and its loop turns.
      heartbeat = startHeartbeat(config.dataDir, { onError: (error) => logger.warn({ err: String(error) }, "could not write the heartbeat") });
      // What a previous process stored and did not get to: checked now, answered on its own.
      await requests.resume((request, outcome) =>
        answers.recovered(request, outcome).catch((error: unknown) => logger.warn({ err: String(error) }, "could not answer a recovered request")),
      );
      await web.start();
      // Long polling and a webhook exclude each other; the bot polls.
      await bot.api.deleteWebhook();
      runner = run(bot, {
        runner: {
          fetch: { allowed_updates: ["message", "callback_query"] },
          // As grammY's own polling loop: a lost connection is retried every 3 s for as long as it
          // takes (logged by the API transformer); 401 and 409 end polling.
          retryInterval: 3000,
          maxRetryTime: Number.POSITIVE_INFINITY,
          silent: true,
        },
      });
      void runner.task()?.then(
        () => resolveStopped(),
        (error: unknown) => {
          logger.fatal({ err: error instanceof Error ? error.message : String(error) }, "polling stopped");
          resolveStopped(error);
        },
      );
      logger.info({ bot: bot.botInfo.username, apiRoot: config.apiRoot }, "bot started");
    },
    async stop() {
      startup.abort();
      // Nothing of the start's checks writes into dataDir (the tool record) after stop.
      await toolsChecked;
      await heartbeat?.stop();
      await subscriptions.stop();
      const polling = runner?.isRunning() ? runner.stop() : undefined;
      await Promise.allSettled([polling, worker.stop(4000), web.stop()]);
      seeding?.close();
      await torrents.destroy();
      await proxy.stop();
      await tasks.drain(2000);
      await reporter.drain(1500);
      notices.stop();
      await editor.flush(1500);
      editor.close();
      await db.destroy();
      logger.info("stopped");
    },
  };
}

import path from "node:path";
import type { Api, Composer, Context } from "grammy";
import type { Got } from "got";
import { subscriptionsFeature } from "./bot/features/subscriptions.ts";
import { attachSubscriptionNotices } from "./bot/subscription-notices.ts";
import { type ChatSettingsOf, withCap } from "./chats/chat-settings.ts";
import type { Config } from "./config.ts";
import type { Db } from "./db/database.ts";
import { checkTimesFrom } from "./db/subscription-repository.ts";
import type { IntakeDeps } from "./intake/intake.ts";
import type { Wants } from "./items/item.ts";
import type { Logger } from "./logger.ts";
import { checkSubscription } from "./subscriptions/checker.ts";
import { createEntrySources } from "./subscriptions/entry-sources.ts";
import { SubscriptionEvents, type SubscriptionListener } from "./subscriptions/events.ts";
import { DEFAULT_SCHEDULE, nextCheckAfter, spreadOut } from "./subscriptions/schedule.ts";
import { type Clock, SubscriptionScheduler, systemClock } from "./subscriptions/scheduler.ts";
import { createSiteMatcher } from "./tools/yt-dlp.ts";
import type { ToolProcesses } from "./tools/tool-processes.ts";

/** What a test may set of the subscriptions (`AppOptions.subscriptions`). */
export interface SubscriptionOptions {
  /** The scheduler's time: a clock a test moves by hand instead of real sleeps. */
  clock?: Clock;
  /** Least time between two subscriptions' checks (default 30 s). */
  spreadMs?: number;
  /** Hears every check from the start on, the ones due at start included (tests). */
  onCheck?: SubscriptionListener;
}

export interface SubscriptionsDeps extends SubscriptionOptions {
  db: Db;
  http: Got;
  api: Api;
  logger: Logger;
  config: Pick<Config, "crawlMaxItems" | "stallTimeoutMs" | "ytDlpCookiesFile" | "dataDir" | "allowedChatIds">;
  /** The checks every link goes through (`app.ts`'s `checks`). */
  checks: Omit<IntakeDeps, "onQueued">;
  onQueued: () => void;
  settingsOf: ChatSettingsOf;
  /** Whether ffmpeg is there to take the audio out (a chat's "audio only" needs it). */
  audio: boolean;
  ytDlp?: { bin: string; proxyUrl: () => string; processes: ToolProcesses; timeoutMs?: number | undefined } | undefined;
}

export interface Subscriptions {
  readonly feature: Composer<Context>;
  /** Each check's outcome as it happens (the chat's notes listen; so may tests). */
  readonly events: SubscriptionEvents;
  start(): void;
  stop(): Promise<void>;
}

/** Default least time between two subscriptions' checks. */
const SPREAD_MS = 30_000;

/**
 * The subscriptions (/watch), built as `app.ts` builds the rest: their sources (feeds, pages,
 * yt-dlp playlists, through the guarded client and proxy), the checker, the scheduler and the chat
 * side (commands and notes).
 */
export function createSubscriptions(deps: SubscriptionsDeps): Subscriptions {
  const { db, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const spreadMs = deps.spreadMs ?? SPREAD_MS;
  const events = new SubscriptionEvents(logger);
  if (deps.onCheck) events.on(deps.onCheck);
  const list = createEntrySources({
    http: deps.http,
    stallTimeoutMs: deps.config.stallTimeoutMs,
    ...(deps.ytDlp
      ? {
          ytDlp: {
            bin: deps.ytDlp.bin,
            proxyUrl: deps.ytDlp.proxyUrl,
            cookiesFile: deps.config.ytDlpCookiesFile,
            workDir: path.resolve(deps.config.dataDir, "tools"),
            timeoutMs: deps.ytDlp.timeoutMs ?? 60_000,
            processes: deps.ytDlp.processes,
          },
          isSite: createSiteMatcher(deps.ytDlp.bin, deps.ytDlp.processes),
        }
      : {}),
  });
  // As a pasted /download: the chat's quality cap, or only the audio (when ffmpeg is there).
  const wantsOf = async (chatId: number): Promise<Wants> => withCap({}, (await deps.settingsOf(chatId)).qualityCap, deps.audio);
  const scheduler = new SubscriptionScheduler({
    db,
    clock,
    logger,
    chatIds: deps.config.allowedChatIds,
    check: (sub, trigger, signal) =>
      checkSubscription(
        { db, list, intake: deps.checks, onQueued: deps.onQueued, wantsOf, maxItems: deps.config.crawlMaxItems, spreadMs, now: () => clock.now(), events, logger },
        sub,
        trigger,
        signal,
      ),
  });
  const nextCheckAt = async (id: number, schedule: Parameters<typeof nextCheckAfter>[0]) => {
    const at = nextCheckAfter(schedule, clock.now());
    return spreadOut(at, await checkTimesFrom(db, at - spreadMs, id), spreadMs);
  };
  const feature = subscriptionsFeature({ db, scheduler, now: () => clock.now(), defaultSchedule: DEFAULT_SCHEDULE, nextCheckAt, logger });
  const detach = attachSubscriptionNotices(events, { api: deps.api, now: () => clock.now(), logger });
  return {
    feature,
    events,
    start: () => scheduler.start(),
    async stop() {
      await scheduler.stop();
      detach();
    },
  };
}

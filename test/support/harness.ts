import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type App, createApp, type AppOptions } from "../../src/app.ts";
import { type Config, type ConfigInput, parseConfig } from "../../src/config.ts";
import { type Db, openDatabase } from "../../src/db/database.ts";
import { createLogger } from "../../src/logger.ts";
import { BotApiDouble, type BotApiDoubleOptions, type RecordedCall, type UploadedFile } from "./bot-api-double.ts";
import { FileServer } from "./file-server.ts";

export const CHAT = 1001;
export const USER = 501;
export const STRANGER_CHAT = 666;

/**
 * One end-to-end world: the Bot API test double, a file server, a data directory, and the real
 * app (grammY polling the double over HTTP), with short intervals so tests stay fast.
 */
export class Harness {
  app?: App;
  private constructor(
    readonly api: BotApiDouble,
    readonly files: FileServer,
    readonly dataDir: string,
    readonly configInput: ConfigInput,
  ) {}

  static async create(overrides: Partial<ConfigInput> = {}, apiOptions: BotApiDoubleOptions = {}): Promise<Harness> {
    const api = await BotApiDouble.start(apiOptions);
    const files = await FileServer.start();
    const dataDir = await mkdtemp(path.join(tmpdir(), "dlbot-"));
    const configInput: ConfigInput = {
      botToken: api.token,
      apiRoot: api.apiRoot,
      allowedChatIds: [CHAT],
      dataDir,
      progressIntervalMs: 300,
      retryDelaysMs: [0, 300, 600],
      allowPrivateNetworks: true,
      stallTimeoutMs: 3000,
      logLevel: (process.env.TEST_LOG_LEVEL as ConfigInput["logLevel"]) ?? "silent",
      ...overrides,
      // Merged, not replaced: a test that sets one torrent key must not switch the DHT, LSD or
      // UPnP back on (their defaults are true), since nothing here may leave loopback.
      torrent: { dht: false, lsd: false, natTraversal: false, ...overrides.torrent },
    };
    return new Harness(api, files, dataDir, configInput);
  }

  /** Opens the bot's SQLite file for a look (or a crash's leftovers) while the app is stopped or running. */
  async withDb<T>(work: (db: Db) => Promise<T>): Promise<T> {
    const db = openDatabase(path.join(this.dataDir, "bot.sqlite"));
    try {
      return await work(db);
    } finally {
      await db.destroy();
    }
  }

  get config(): Config {
    return parseConfig(this.configInput);
  }

  async start(options: Partial<AppOptions> = {}): Promise<App> {
    const config = this.config;
    const logger = createLogger({ level: config.logLevel, secrets: [config.botToken] });
    this.app = await createApp(config, { logger, ...options });
    await this.app.start();
    return this.app;
  }

  async stopApp(): Promise<void> {
    await this.app?.stop();
    this.app = undefined;
  }

  async close(): Promise<void> {
    await this.stopApp();
    await this.api.stop();
    await this.files.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }

  /** A user in the allowed chat sends a command. */
  send(text: string, chatId = CHAT): number {
    const update = this.api.sendText(chatId, text, { fromId: USER });
    return update.message!.message_id;
  }

  /** The bot's next text reply in a chat (sendMessage), after `since`. */
  reply(since: number, chatId = CHAT, match?: RegExp): Promise<RecordedCall> {
    return this.api.waitForCall(
      (c) =>
        c.method === "sendMessage" &&
        c.params.chat_id === chatId &&
        c.response?.ok === true &&
        (!match || match.test(String(c.params.text))),
      { since },
    );
  }

  /** The next successful file upload. */
  upload(since: number): Promise<RecordedCall> {
    return this.api.waitForCall((c) => isUpload(c) && c.response?.ok === true, { since });
  }

  uploads(): RecordedCall[] {
    return this.api.calls.filter((c) => isUpload(c) && c.response?.ok === true);
  }

  /** Every file delivered so far, one entry per file (an album counts each of its files). */
  delivered(): ReturnType<typeof deliveredFiles> {
    return this.uploads().flatMap(deliveredFiles);
  }

  /** The last text of a bot message (edits applied). */
  textOf(messageId: number, chatId = CHAT): string {
    return this.api.chat(chatId).find((m) => m.message_id === messageId)?.text ?? "";
  }

  /** Resolves once the message's text matches (a final status line, say). */
  async waitForText(messageId: number, match: RegExp, since = 0, chatId = CHAT): Promise<string> {
    if (match.test(this.textOf(messageId, chatId))) return this.textOf(messageId, chatId);
    await this.api.waitForCall(
      (c) => c.method === "editMessageText" && c.params.message_id === messageId && c.response?.ok === true && match.test(String(c.params.text)),
      { since },
    );
    return this.textOf(messageId, chatId);
  }

  /**
   * The id of the first message that shows progress after `since`: a progress message sent, or
   * a message edited into one (an acknowledgement, or the chat's live message of earlier items).
   */
  async progressMessageId(since: number, chatId = CHAT): Promise<number> {
    const call = await this.api.waitForCall(
      (c) =>
        (c.method === "sendMessage" || c.method === "editMessageText") &&
        c.params.chat_id === chatId &&
        c.response?.ok === true &&
        PROGRESS_TEXT.test(String(c.params.text)),
      { since },
    );
    return call.method === "sendMessage" ? messageIdOf(call) : Number(call.params.message_id);
  }

  /** The messages that showed progress (sent so, or edited into it) since `since`, in order. */
  progressMessages(since = 0, chatId = CHAT): number[] {
    const ids = this.api.calls
      .filter(
        (c) =>
          c.seq >= since &&
          (c.method === "sendMessage" || c.method === "editMessageText") &&
          c.params.chat_id === chatId &&
          c.response?.ok === true &&
          PROGRESS_TEXT.test(String(c.params.text)),
      )
      .map((c) => (c.method === "sendMessage" ? messageIdOf(c) : Number(c.params.message_id)));
    return [...new Set(ids)];
  }

  /** Gaps between consecutive edit requests of one message, in ms. */
  editGaps(messageId: number): number[] {
    const times = this.api
      .callsOf("editMessageText")
      .filter((c) => c.params.message_id === messageId)
      .map((c) => c.startedAt);
    return times.slice(1).map((t, i) => t - times[i]!);
  }
}

export function isUpload(c: RecordedCall): boolean {
  return c.method === "sendDocument" || c.method === "sendVideo" || c.method === "sendAudio" || c.method === "sendMediaGroup";
}

/**
 * The files a successful upload call delivered, in order, without thumbnails: the one its method
 * names, or each of an album's.
 */
export function deliveredFiles(call: RecordedCall): Array<UploadedFile & { caption?: string; method: string; params: Record<string, unknown> }> {
  const byRef = (ref: unknown, fallback: string) =>
    call.files.find((f) => (typeof ref === "string" && ref.startsWith("attach://") ? f.field === ref.slice(9) : f.field === fallback))!;
  if (call.method === "sendMediaGroup") {
    return (call.params.media as Array<Record<string, unknown>>).map((m) => ({
      ...byRef(m.media, ""),
      ...(typeof m.caption === "string" ? { caption: m.caption } : {}),
      method: `send${String(m.type).charAt(0).toUpperCase()}${String(m.type).slice(1)}`,
      params: m,
    }));
  }
  const kind = call.method.replace(/^send/, "").toLowerCase();
  return [{ ...byRef(call.params[kind], kind), ...(typeof call.params.caption === "string" ? { caption: call.params.caption } : {}), method: call.method, params: call.params }];
}

/** The result message id of a recorded send call. */
export function messageIdOf(call: RecordedCall): number {
  return (call.response as { ok: true; result: { message_id: number } }).result.message_id;
}

/** True for the live progress message's texts (they always end with the queue line). */
export const PROGRESS_TEXT = /(waiting in the queue|nothing else waiting)$/;

/**
 * Made-up host names for the private-network tests: `files.test` is the fixtures' 127.0.0.1 (the
 * one address trusted), `intranet.test` a private 10.0.0.7. `resolved` lists each name looked up.
 */
export function madeUpNames(): { resolved: string[]; options: Pick<AppOptions, "trustedAddresses" | "resolve"> } {
  const resolved: string[] = [];
  return {
    resolved,
    options: {
      trustedAddresses: ["127.0.0.1"],
      resolve: async (name) => {
        resolved.push(name);
        return name === "files.test" ? [{ address: "127.0.0.1", family: 4 }] : name === "intranet.test" ? [{ address: "10.0.0.7", family: 4 }] : [];
      },
    },
  };
}

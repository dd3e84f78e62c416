import { readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { ASK_BEFORE_DOWNLOAD, QUALITY_CAPS, SPLIT_STYLES, UPLOAD_AS } from "./chats/chat-settings.ts";
import { ConfigError } from "./errors.ts";

/**
 * The configuration schema. It is the single source of truth: the `Config` type is derived from it,
 * and every key is documented in config.example.json and the README's table.
 */
const ms = (what: string) =>
  z.number({ error: `expected ${what} as a whole number of milliseconds` }).int().nonnegative();

export const TorrentConfigSchema = z
  .object({
    dht: z.boolean({ error: "expected true or false" }).default(true),
    lsd: z.boolean({ error: "expected true or false" }).default(true),
    natTraversal: z.boolean({ error: "expected true or false" }).default(true),
    metadataTimeoutMs: ms("a duration").min(1).default(180_000),
    seed: z.boolean({ error: "expected true or false" }).default(false),
    /** A torrent listing more files than this is refused with the count (each file would be uploaded). */
    maxFiles: z
      .number({ error: "expected a number of files" })
      .int("expected a whole number of files")
      .positive("expected at least 1 file")
      .default(200),
    /** Most trackers one torrent may name; the rest are ignored (each is looked up and contacted). */
    maxTrackers: z
      .number({ error: "expected a number of trackers" })
      .int("expected a whole number of trackers")
      .positive("expected at least 1 tracker")
      .default(50),
  })
  .strict();

/**
 * The embedded HTTP server (`src/web/`): the REST API, its events, the Mini App, health and
 * metrics. Off unless `port` is set; loopback by default (a reverse proxy with TLS goes in front).
 */
export const WebConfigSchema = z
  .object({
    port: z
      .number({ error: "expected a TCP port number" })
      .int("expected a whole port number")
      .min(1, "expected a port from 1 to 65535")
      .max(65535, "expected a port from 1 to 65535")
      .optional(),
    host: z.string({ error: "expected the address to listen on, e.g. 127.0.0.1" }).min(1).default("127.0.0.1"),
    /** Where people reach the server (through the reverse proxy): the Mini App's address is `<publicUrl>/app/`. */
    publicUrl: z
      .url({ protocol: /^https?$/, error: "expected the http(s) URL the server is reached at, e.g. https://bot.example.com" })
      .transform((u) => u.replace(/\/+$/, ""))
      .optional(),
    /** Requests one API token (or one Mini App user) may make per minute. */
    rateLimitPerMinute: z
      .number({ error: "expected a number of requests" })
      .int("expected a whole number of requests")
      .positive("expected at least 1 request a minute")
      .default(120),
  })
  .strict();

/** `"a", "b" or "c"`, for a choice's error message. */
const oneOf = (values: readonly string[]) => `expected ${values.slice(0, -1).map((v) => `"${v}"`).join(", ")} or "${values.at(-1)}"`;

/** The largest upload each kind of Bot API server takes (Telegram's documented limits). */
export const CLOUD_UPLOAD_LIMIT = 50 * 1024 * 1024;
export const LOCAL_UPLOAD_LIMIT = 2000 * 1024 * 1024;

/** The token config.example.json carries, refused before anything talks to Telegram. */
export const EXAMPLE_TOKEN = "123456789:replace-with-your-token";

export const ConfigSchema = z
  .object({
    botToken: z
      .string({ error: "expected the bot token from @BotFather (a string like 123456:ABC-DEF...)" })
      .regex(/^\d+:[A-Za-z0-9_-]+$/, "expected a bot token like 123456:ABC-DEF... (from @BotFather)")
      .refine((t) => t !== EXAMPLE_TOKEN, "still the example's placeholder: put the token @BotFather gave you here (or in BOT_TOKEN)"),
    apiRoot: z
      .url({ protocol: /^https?$/, error: "expected an http(s) URL of a Bot API server" })
      .default("https://api.telegram.org")
      .transform((u) => u.replace(/\/+$/, "")),
    /**
     * `apiRoot` is a local `telegram-bot-api --local` server sharing the bot's disk: uploads go by
     * path, files come from its disk, and the upload limit is 2000 MB. Never guessed from
     * `apiRoot` (a local server and a test double of the cloud can both be on loopback).
     */
    localBotApi: z.boolean({ error: "expected true or false" }).default(false),
    /** The cloud Bot API, only for `npm run logout` (moving the bot to a local server). */
    cloudApiRoot: z
      .url({ protocol: /^https?$/, error: "expected an http(s) URL of the cloud Bot API" })
      .default("https://api.telegram.org")
      .transform((u) => u.replace(/\/+$/, "")),
    allowedChatIds: z
      .array(z.number({ error: "expected chat ids as numbers" }).int("expected whole-number chat ids"), {
        error: "expected a list of chat ids (numbers)",
      })
      .min(1, "expected at least one chat id"),
    /**
     * Chats whose /pause and /resume (without an id) act on the whole queue; elsewhere they act on
     * the chat's own items. Default: the first allowed chat.
     */
    adminChatIds: z
      .array(z.number({ error: "expected chat ids as numbers" }).int("expected whole-number chat ids"), {
        error: "expected a list of chat ids (numbers)",
      })
      .optional(),
    dataDir: z.string({ error: "expected a directory path" }).min(1, "expected a directory path").default("./data"),
    maxFileSizeBytes: z
      .number({ error: "expected a number of bytes" })
      .int()
      .positive("expected a positive number of bytes")
      .default(2_147_483_648),
    /** Default: 50 MB for the cloud Bot API, 2000 MB with `localBotApi` (filled in below). */
    uploadLimitBytes: z
      .number({ error: "expected a number of bytes" })
      .int()
      .positive("expected a positive number of bytes")
      .optional(),
    splitLargeFiles: z.boolean({ error: "expected true or false" }).default(true),
    /** Byte parts (and big files sent as they came) go up while the rest downloads. */
    uploadWhileDownloading: z.boolean({ error: "expected true or false" }).default(true),
    ffmpegPath: z.string({ error: "expected the path of the ffmpeg binary" }).min(1).optional(),
    ffprobePath: z.string({ error: "expected the path of the ffprobe binary" }).min(1).optional(),
    ytDlpPath: z.string({ error: "expected the path of the yt-dlp binary" }).min(1).optional(),
    ytDlpCookiesFile: z.string({ error: "expected the path of a cookies.txt file" }).min(1).optional(),
    progressIntervalMs: ms("the edit interval").min(100, "expected at least 100 ms").default(5000),
    retryDelaysMs: z
      .array(ms("a retry delay"), { error: "expected a list of delays in milliseconds" })
      .default([0, 120_000, 480_000]),
    allowPrivateNetworks: z.boolean({ error: "expected true or false" }).default(false),
    // The defaults of what each chat may change with /settings (see chats/chat-settings.ts).
    uploadAs: z.enum(UPLOAD_AS, { error: oneOf(UPLOAD_AS) }).default("auto"),
    /** Ask before downloading: "always" (a torrent's files, a video's quality, a page's videos), "torrents" only, "never". */
    askBeforeDownload: z.enum(ASK_BEFORE_DOWNLOAD, { error: oneOf(ASK_BEFORE_DOWNLOAD) }).default("always"),
    qualityCap: z.enum(QUALITY_CAPS, { error: oneOf(QUALITY_CAPS) }).default("best"),
    splitStyle: z.enum(SPLIT_STYLES, { error: oneOf(SPLIT_STYLES) }).default("playable"),
    stallTimeoutMs: ms("the stall timeout").min(100).default(60_000),
    /**
     * An attempt whose average speed over `speedWindowMs` stays below this fails (as aria2's
     * --lowest-speed-limit): a server trickling a byte now and then cannot hold the queue. 0 = off.
     */
    minSpeedBytesPerSec: z
      .number({ error: "expected a number of bytes per second" })
      .int("expected a whole number of bytes per second")
      .nonnegative("expected 0 (off) or more bytes per second")
      .default(1024),
    speedWindowMs: ms("the window the average speed is taken over").min(100).default(60_000),
    connectionsPerDownload: z
      .number({ error: "expected a number of connections" })
      .int("expected a whole number of connections")
      .min(1, "expected at least 1 connection")
      .max(16, "expected at most 16 connections (more only burdens the server)")
      .default(4),
    noticeTtlMs: ms("how long notices stay").default(60_000),
    /**
     * How long an item that asks (which files of a torrent, which quality) waits for a choice
     * before it goes on with every file that fits, the best quality. 0: never ask.
     */
    chooseTimeoutMs: ms("how long a question waits").default(600_000),
    crawlMaxItems: z
      .number({ error: "expected a number of files" })
      .int("expected a whole number of files")
      .positive("expected at least 1 file")
      .default(50),
    logLevel: z
      .enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"], {
        error: "expected one of trace, debug, info, warn, error, fatal, silent",
      })
      .default("info"),
    torrent: TorrentConfigSchema.default(TorrentConfigSchema.parse({})),
    web: WebConfigSchema.default(WebConfigSchema.parse({})),
  })
  .strict()
  .refine((c) => !c.localBotApi || c.apiRoot !== c.cloudApiRoot, {
    path: ["apiRoot"],
    message: "localBotApi is on, so expected the local telegram-bot-api server's URL here (e.g. http://telegram-bot-api:8081), not the cloud's",
  })
  .transform((c) => ({
    ...c,
    adminChatIds: c.adminChatIds ?? [c.allowedChatIds[0]!],
    uploadLimitBytes: c.uploadLimitBytes ?? (c.localBotApi ? LOCAL_UPLOAD_LIMIT : CLOUD_UPLOAD_LIMIT),
  }));

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/** JSON has no comments, so keys starting with "//" document the next key and are ignored. */
function stripComments(value: unknown): unknown {
  if (!value || typeof value !== "object" || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([k]) => !k.startsWith("//"))
      .map(([k, v]) => [k, stripComments(v)]),
  );
}

/** Validates a parsed config object; throws a ConfigError naming the first bad key. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = {}, source = "config"): Config {
  const clean = stripComments(raw);
  const withEnv =
    env.BOT_TOKEN && clean && typeof clean === "object" ? { ...(clean as object), botToken: env.BOT_TOKEN } : clean;
  const result = ConfigSchema.safeParse(withEnv);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const key = issue.path.length ? issue.path.join(".") : "(top level)";
  const message =
    issue.code === "unrecognized_keys"
      ? `unknown key ${issue.keys.map((k) => `"${k}"`).join(", ")} (check the spelling against config.example.json)`
      : issue.message;
  throw new ConfigError("CONFIG_INVALID", `Invalid ${source}: "${key}": ${message}`);
}

/**
 * Reads the config from the environment variable `CONFIG_JSON` (the whole config as JSON, handy in
 * containers), else from the file `CONFIG_FILE` or ./config.json, then validates it.
 */
export async function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<Config> {
  if (env.CONFIG_JSON) {
    let raw: unknown;
    try {
      raw = JSON.parse(env.CONFIG_JSON);
    } catch (error) {
      throw new ConfigError("CONFIG_INVALID", `Invalid CONFIG_JSON: not valid JSON (${(error as Error).message}).`);
    }
    return parseConfig(raw, env, "CONFIG_JSON");
  }
  const file = path.resolve(cwd, env.CONFIG_FILE ?? "config.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new ConfigError(
        "CONFIG_MISSING",
        `No config file at ${file}: copy config.example.json to config.json and fill in botToken and allowedChatIds (or set CONFIG_FILE to its path).`,
      );
    }
    throw new ConfigError("CONFIG_MISSING", `Cannot read the config file ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError("CONFIG_INVALID", `Invalid config file ${file}: not valid JSON (${(error as Error).message}).`);
  }
  return parseConfig(raw, env, `config file ${file}`);
}

/**
 * A Telegram Bot API test double: a real HTTP server on 127.0.0.1 that grammY talks to through
 * `client: { apiRoot }`, exactly as it talks to api.telegram.org.
 *
 * It answers like the real Bot API (shapes, error descriptions, HTTP status = error_code) for the
 * methods a download bot uses, keeps the chat as a user would see it (edits applied, deletions
 * flagged), and records every call so tests can assert on what the bot did. Updates are injected
 * with `sendText` / `sendDocument` / `pressButton` and delivered through long polling.
 *
 * Where the brief and the real server differ, the real server wins; see the notes on
 * `parseHtml` (a bare '&' is accepted) and `readMultipart` (grammY's unquoted file names).
 */
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { closeSync, copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, openSync, readSync, statSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { pipeline } from "node:stream/promises";
import type {
  BotCommand,
  CallbackQuery,
  Chat,
  File as TelegramFile,
  InlineKeyboardButton,
  InlineKeyboardMarkup,
  Message,
  MessageEntity,
  Update,
  User,
  UserFromGetMe,
} from "grammy/types";
import { MultipartError, boundaryOf, readMultipart, type FileSink, type PartInfo } from "./multipart.ts";
import { TextError, charCount, parseHtml, trimFormatted, withDetectedEntities, type FormattedText } from "./telegram-text.ts";
import { Waitlist } from "./waitlist.ts";

// --- public types -------------------------------------------------------------------------

export interface UploadedFile {
  /** The multipart field name (grammY: a random id, referenced as attach://<id>). */
  field: string;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
  /** Where the bytes were written; readable until `stop()`. */
  path: string;
  /** True if the file exceeded the upload limit (the call was answered 413; bytes not kept). */
  tooLarge: boolean;
  /** False if the request broke off while this file was arriving (`size` is what arrived). */
  complete: boolean;
}

export interface ApiErrorBody {
  ok: false;
  error_code: number;
  /** Always there on Telegram; some other Bot API servers leave it out (see `failNext`). */
  description?: string;
  parameters?: { retry_after?: number; migrate_to_chat_id?: number };
}

export type ApiResponse = { ok: true; result: unknown } | ApiErrorBody;

export interface RecordedCall {
  seq: number;
  /** Canonical method name (the Bot API matches names case-insensitively). */
  method: string;
  /** Parameters from the query string and body, with JSON and numeric fields decoded. */
  params: Record<string, unknown>;
  files: UploadedFile[];
  /** Date.now() when the request was fully received (for uploads: when the body ended). */
  at: number;
  /** Date.now() when the request headers arrived. */
  startedAt: number;
  /**
   * What was answered. null if the client went away before an answer, and for a getUpdates
   * long poll while it is held: those are recorded on arrival, and filled in when answered.
   */
  response: ApiResponse | null;
}

export type MessageKind = "text" | "document" | "video" | "audio" | "photo";

/** A message of the bot as the user sees it now. */
export interface ChatMessage {
  message_id: number;
  chat_id: number;
  kind: MessageKind;
  text?: string;
  caption?: string;
  /** Entities of the text or caption. */
  entities?: MessageEntity[];
  reply_markup?: InlineKeyboardMarkup;
  reply_to_message_id?: number;
  file_id?: string;
  file_name?: string;
  file_size?: number;
  mime_type?: string;
  /** For files uploaded by the bot: the content hash and where the bytes are. */
  sha256?: string;
  uploadPath?: string;
  /** Sent by path to a local server: the file it read (no bytes came in the request). */
  localPath?: string;
  deleted: boolean;
  edits: number;
  sentAt: number;
  editedAt?: number;
  deletedAt?: number;
}

export interface CallbackQueryRecord {
  id: string;
  chatId: number;
  messageId: number;
  fromId: number;
  data: string;
  pressedAt: number;
  answered: boolean;
  answer?: { text?: string; show_alert?: boolean; url?: string; cache_time?: number; at: number };
}

export interface BotApiDoubleOptions {
  /** Default "123456:TEST-token". The bot's user id is the part before ':'. */
  token?: string;
  /** Default "test_bot". */
  username?: string;
  /** Largest accepted upload (the real limit is 50 MB); larger ones answer 413. */
  maxUploadBytes?: number;
  /** Largest file getFile hands out (the real limit is 20 MB); larger ones: "file is too big". */
  maxDownloadBytes?: number;
  /** Default true. false: uploads are hashed and counted but not written to disk (the bench: no disk noise). */
  storeUploads?: boolean;
  /**
   * Answer as `telegram-bot-api --local` does: files are sent by `file://` URL and read from disk,
   * getFile answers with an absolute path (the file written to this server's own folder), and the
   * limits are 2000 MB both ways. Off: a `file://` file is refused as the cloud refuses it.
   */
  localMode?: boolean;
  /**
   * Local mode: the folders this server can see (another container sees only what is mounted in
   * it). A path outside them, or missing, is refused as the real server refuses it. Default: all.
   */
  localRoots?: string[];
}

/** What a local Bot API server takes and hands out (the cloud: 50 MB up, 20 MB down). */
const LOCAL_LIMIT_BYTES = 2000 * 1024 * 1024;

export interface InjectOptions {
  fromId?: number;
  chatType?: "private" | "group" | "supergroup";
}

/** The real shape of a flood-control error, for `failNext`. */
export function tooManyRequests(retryAfter: number): ApiErrorBody & { parameters: { retry_after: number } } {
  return {
    ok: false,
    error_code: 429,
    description: `Too Many Requests: retry after ${retryAfter}`,
    parameters: { retry_after: retryAfter },
  };
}

export const NOT_MODIFIED =
  "Bad Request: message is not modified: specified new message content and reply markup of the specified message are exactly the same as a current content and reply markup of the message";

// --- internals ----------------------------------------------------------------------------

type Params = Record<string, unknown>;

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly description: string,
    readonly parameters?: ApiErrorBody["parameters"],
  ) {
    super(description);
  }
  body(): ApiErrorBody {
    return {
      ok: false,
      error_code: this.code,
      description: this.description,
      ...(this.parameters ? { parameters: this.parameters } : {}),
    };
  }
}

/** A file's sha256, read 1 MB at a time (a local upload may be 2000 MB). */
function hashFileSync(file: string): string {
  const hash = createHash("sha256");
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  const fd = openSync(file, "r");
  try {
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

const bad = (description: string): ApiError => new ApiError(400, `Bad Request: ${description}`);

/** Client went away (long poll aborted, upload cancelled): nothing to answer. */
const ABORTED = Symbol("aborted");

type FileKind = MessageKind;

interface StoredFile {
  file_id: string;
  file_unique_id: string;
  file_path: string;
  kind: FileKind;
  size: number;
  sha256: string;
  file_name?: string;
  mime_type?: string;
  source: { path: string } | { bytes: Buffer };
  /** Sent by `file://` URL (local mode): the absolute path this server read. */
  localPath?: string;
}

interface StoredMessage {
  message: Message;
  fromBot: boolean;
  kind: MessageKind;
  deleted: boolean;
  edits: number;
  sentAt: number;
  editedAt?: number;
  deletedAt?: number;
  file?: StoredFile;
  upload?: UploadedFile;
}

interface ChatState {
  chat: Exclude<Chat, Chat.ChannelChat>; // channels are not modelled
  nextMessageId: number;
  messages: Map<number, StoredMessage>;
  blocked: boolean;
}

interface Poller {
  limit: number;
  finish(result: Update[] | ApiError | typeof ABORTED): void;
}

interface CallContext {
  params: Params;
  files: UploadedFile[];
  res: ServerResponse;
}

type Handler = (ctx: CallContext) => unknown;

/**
 * Fields whose values are JSON when sent as strings (multipart, form, query), and scalar fields
 * the server reads as numbers/booleans: decoding them makes `params` look the same whichever way
 * grammY encoded the request.
 */
const JSON_FIELDS = new Set([
  "reply_markup",
  "reply_parameters",
  "link_preview_options",
  "entities",
  "caption_entities",
  "allowed_updates",
  "commands",
  "scope",
  "media",
]);
const INT_FIELDS = new Set([
  "chat_id",
  "from_chat_id",
  "message_id",
  "message_thread_id",
  "reply_to_message_id",
  "offset",
  "limit",
  "timeout",
  "duration",
  "width",
  "height",
  "cache_time",
  "user_id",
]);
const BOOL_FIELDS = new Set([
  "disable_notification",
  "protect_content",
  "supports_streaming",
  "show_alert",
  "drop_pending_updates",
  "disable_content_type_detection",
  "has_spoiler",
  "disable_web_page_preview",
  "allow_sending_without_reply",
  "show_caption_above_media",
]);

function decodeParam(key: string, value: unknown): unknown {
  if (typeof value !== "string") return value;
  if (JSON_FIELDS.has(key)) {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value; // left as a string; the method reports it as unparsable
    }
  }
  if (INT_FIELDS.has(key) && /^\s*-?\d+\s*$/.test(value)) return Number(value);
  if (BOOL_FIELDS.has(key) && (value === "true" || value === "false")) return value === "true";
  return value;
}

function str(p: Params, key: string): string | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

function int(p: Params, key: string): number | undefined {
  const v = p[key];
  if (typeof v === "number" && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === "string" && /^\s*-?\d+\s*$/.test(v)) return Number(v);
  return undefined;
}

function bool(p: Params, key: string): boolean {
  const v = p[key];
  return v === true || v === "true" || v === 1 || v === "1";
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const MIME_TYPES: Record<string, string> = {
  ".pdf": "application/pdf",
  ".zip": "application/zip",
  ".torrent": "application/x-bittorrent",
  ".txt": "text/plain",
  ".html": "text/html",
  ".json": "application/json",
  ".mp4": "video/mp4",
  ".mkv": "video/x-matroska",
  ".webm": "video/webm",
  ".mov": "video/quicktime",
  ".mp3": "audio/mpeg",
  ".m4a": "audio/mp4",
  ".ogg": "audio/ogg",
  ".opus": "audio/ogg",
  ".flac": "audio/flac",
  ".wav": "audio/x-wav",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".png": "image/png",
  ".gif": "image/gif",
  ".webp": "image/webp",
};

const FILE_ID_PREFIX: Record<FileKind, string> = {
  document: "BQACAgIAAxkBAAI",
  video: "BAACAgIAAxkBAAI",
  audio: "CQACAgIAAxkBAAI",
  photo: "AgACAgIAAxkBAAI",
  text: "",
};
const FILE_DIR: Record<FileKind, string> = {
  document: "documents",
  video: "videos",
  audio: "music",
  photo: "photos",
  text: "documents",
};
const DEFAULT_EXT: Record<FileKind, string> = { document: "", video: ".mp4", audio: ".mp3", photo: ".jpg", text: "" };

/** Update types delivered when allowed_updates is empty or unset. */
const NOT_DEFAULT_UPDATES = new Set(["chat_member", "message_reaction", "message_reaction_count"]);

const CHAT_ACTIONS = new Set([
  "typing",
  "upload_photo",
  "record_video",
  "upload_video",
  "record_voice",
  "upload_voice",
  "upload_document",
  "choose_sticker",
  "find_location",
  "record_video_note",
  "upload_video_note",
]);

const CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";

// --- the double ---------------------------------------------------------------------------

export class BotApiDouble {
  readonly apiRoot: string;
  readonly token: string;
  /** What getMe answers. */
  readonly botUser: UserFromGetMe;
  /** How the bot appears as the sender of its messages (a plain User). */
  private readonly botAsSender: User;
  readonly calls: RecordedCall[] = [];
  /** Files fetched from /file/bot<token>/<file_path>, in order. */
  readonly fileDownloads: { filePath: string; at: number }[] = [];
  /** The most uploads ever received at the same time. */
  maxConcurrentUploads = 0;

  private readonly maxUploadBytes: number;
  private readonly maxDownloadBytes: number;
  private readonly storeUploads: boolean;
  readonly localMode: boolean;
  private readonly localRoots: string[] | undefined;
  private readonly tmpDir: string;
  private readonly handlers: Map<string, { name: string; handler: Handler }>;
  private readonly callWaiters = new Waitlist<RecordedCall>();
  private readonly pollWaiters = new Waitlist<true>();

  private updates: Update[] = [];
  private nextUpdateId = 1;
  private allowedUpdates: Set<string> | undefined;
  private readonly pollers = new Set<Poller>();
  private readonly pollResponses = new Set<Promise<void>>();

  private readonly chats = new Map<number, ChatState>();
  private readonly filesById = new Map<string, StoredFile>();
  private readonly filesByPath = new Map<string, StoredFile>();
  private fileCounter = 0;
  private uploadCounter = 0;
  private readonly inFlight = new Set<UploadedFile>();
  private readonly uploadWaiters = new Waitlist<UploadedFile>();
  /** While set, uploads stop being read (TCP backpressure reaches the bot) until resumed. */
  private uploadGate: { promise: Promise<void>; open: () => void } | undefined;
  private uploadRate: number | undefined;
  private readonly callbackQueryRecords = new Map<string, CallbackQueryRecord>();
  private callbackCounter = 0;
  private readonly failures = new Map<string, { error: ApiErrorBody; remaining: number }[]>();
  private readonly commandSets = new Map<string, BotCommand[]>();
  /** file_id → the description getFile refuses it with (see `refuseFile`). */
  private readonly refusedFiles = new Map<string, string>();
  /** "chatId userId" → the member's status (see `setChatMember`); anyone else has left. */
  private readonly members = new Map<string, "creator" | "administrator" | "member" | "restricted" | "left" | "kicked">();
  private stopped = false;

  private constructor(
    private readonly server: Server,
    opts: BotApiDoubleOptions,
  ) {
    const { port } = server.address() as AddressInfo;
    this.apiRoot = `http://127.0.0.1:${port}`;
    this.token = opts.token ?? "123456:TEST-token";
    this.localMode = opts.localMode ?? false;
    this.localRoots = opts.localRoots?.map((r) => resolve(r));
    this.maxUploadBytes = opts.maxUploadBytes ?? (this.localMode ? LOCAL_LIMIT_BYTES : 50 * 1024 * 1024);
    this.maxDownloadBytes = opts.maxDownloadBytes ?? (this.localMode ? LOCAL_LIMIT_BYTES : 20 * 1024 * 1024);
    this.storeUploads = opts.storeUploads ?? true;
    this.tmpDir = mkdtempSync(join(tmpdir(), "bot-api-double-"));
    const botId = Number(this.token.split(":")[0]);
    this.botUser = {
      id: Number.isSafeInteger(botId) && botId > 0 ? botId : 123456,
      is_bot: true,
      first_name: "Test Bot",
      username: opts.username ?? "test_bot",
      can_join_groups: true,
      can_read_all_group_messages: false,
      supports_inline_queries: false,
      can_connect_to_business: false,
      has_main_web_app: false,
      has_topics_enabled: false,
      allows_users_to_create_topics: false,
      can_manage_bots: false,
      supports_join_request_queries: false,
    };
    this.botAsSender = {
      id: this.botUser.id,
      is_bot: true,
      first_name: this.botUser.first_name,
      username: this.botUser.username,
    };
    this.handlers = this.buildHandlers();
  }

  static async start(opts: BotApiDoubleOptions = {}): Promise<BotApiDouble> {
    const server = createServer();
    // grammY keeps connections alive; never close idle ones under it (that races with reuse
    // and surfaces as random "socket hang up" errors). stop() closes everything.
    server.keepAliveTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const double = new BotApiDouble(server, opts);
    server.on("request", (req, res) => {
      double.handle(req, res).catch((err: unknown) => {
        // A bug in the double itself: answer 500 so the test sees it instead of hanging.
        if (!res.headersSent && !res.destroyed) {
          writeJson(res, 500, { ok: false, error_code: 500, description: `BotApiDouble bug: ${String(err)}` });
        }
      });
    });
    return double;
  }

  // --- injecting updates ---------------------------------------------------------------------

  /** A user writes `text` in `chatId`. Commands and URLs get entities, as Telegram adds them. */
  sendText(
    chatId: number,
    text: string,
    opts: InjectOptions & { replyToMessageId?: number; entities?: MessageEntity[] } = {},
  ): Update {
    const from = this.userFor(chatId, opts.fromId);
    const chat = this.ensureChat(chatId, opts.chatType, from);
    const message: Message & Update.NonChannel = {
      message_id: chat.nextMessageId++,
      from,
      chat: chat.chat,
      date: unixNow(),
      text,
    };
    const entities = opts.entities ?? withDetectedEntities(text, []);
    if (entities.length > 0) message.entities = entities;
    if (opts.replyToMessageId !== undefined) {
      const target = chat.messages.get(opts.replyToMessageId);
      if (!target) throw new Error(`sendText: message ${opts.replyToMessageId} does not exist in chat ${chatId}`);
      message.reply_to_message = snapshotForReply(target.message);
    }
    this.storeMessage(chat, { message, fromBot: false, kind: "text" });
    return this.enqueue({ update_id: 0, message: structuredClone(message) });
  }

  /** A user sends a file; it is also registered for getFile and /file/ downloads. */
  sendDocument(
    chatId: number,
    file: { bytes: Buffer; fileName: string; mimeType?: string },
    opts: InjectOptions & { caption?: string } = {},
  ): Update {
    const from = this.userFor(chatId, opts.fromId);
    const chat = this.ensureChat(chatId, opts.chatType, from);
    const stored = this.registerFile("document", {
      size: file.bytes.length,
      sha256: createHash("sha256").update(file.bytes).digest("hex"),
      file_name: file.fileName,
      mime_type: file.mimeType ?? guessMime(file.fileName),
      source: { bytes: file.bytes },
    });
    const message: Message & Update.NonChannel = {
      message_id: chat.nextMessageId++,
      from,
      chat: chat.chat,
      date: unixNow(),
      document: documentOf(stored),
    };
    if (opts.caption !== undefined && opts.caption !== "") {
      message.caption = opts.caption;
      const entities = withDetectedEntities(opts.caption, []);
      if (entities.length > 0) message.caption_entities = entities;
    }
    this.storeMessage(chat, { message, fromBot: false, kind: "document", file: stored });
    return this.enqueue({ update_id: 0, message: structuredClone(message) });
  }

  /**
   * The user presses an inline button of a bot message. The update carries the message as it
   * is now. Pressing a button that is not on the message throws (a user cannot do that), unless
   * `force` is set, e.g. to model a press racing with an edit.
   */
  pressButton(chatId: number, messageId: number, data: string, opts: { fromId?: number; force?: boolean } = {}): Update {
    const chat = this.chats.get(chatId);
    const stored = chat?.messages.get(messageId);
    if (!chat || !stored || stored.deleted) {
      throw new Error(`pressButton: message ${messageId} is not visible in chat ${chatId}`);
    }
    const buttons = stored.message.reply_markup?.inline_keyboard.flat() ?? [];
    if (!opts.force && !buttons.some((b) => "callback_data" in b && b.callback_data === data)) {
      const available = buttons.map((b) => ("callback_data" in b ? b.callback_data : `(${b.text})`)).join(", ");
      throw new Error(`pressButton: message ${messageId} has no button with data "${data}" (buttons: ${available || "none"})`);
    }
    const from = this.userFor(chatId, opts.fromId);
    const id = String(4_000_000_000_000_000n + BigInt(++this.callbackCounter));
    const query: CallbackQuery = {
      id,
      from,
      message: structuredClone(stored.message),
      chat_instance: String(Math.abs(chatId) * 7 + 1),
      data,
    };
    this.callbackQueryRecords.set(id, {
      id,
      chatId,
      messageId,
      fromId: from.id,
      data,
      pressedAt: Date.now(),
      answered: false,
    });
    return this.enqueue({ update_id: 0, callback_query: query });
  }

  /** Makes a chat known without any message in it (sending to unknown chats fails, as on Telegram). */
  addChat(chatId: number, opts: InjectOptions = {}): void {
    this.ensureChat(chatId, opts.chatType, this.userFor(chatId, opts.fromId));
  }

  /**
   * getFile refuses this file from now on, as Telegram does for a file_id it no longer knows (400
   * "Bad Request: invalid file_id", the default) or, in the cloud, one over 20 MB ("Bad Request:
   * file is too big"). Its /file/ download goes too.
   */
  refuseFile(fileId: string, description = "Bad Request: invalid file_id"): void {
    this.refusedFiles.set(fileId, description);
  }

  /** What getChatMember says of the user in a group: a member (the default "member") or not ("left"). */
  setChatMember(chatId: number, userId: number, status: "creator" | "administrator" | "member" | "restricted" | "left" | "kicked" = "member"): void {
    this.ensureChat(chatId, undefined, this.userFor(chatId, userId));
    this.members.set(`${chatId} ${userId}`, status);
  }

  /** The user blocks (or unblocks) the bot: sending then fails with 403. */
  blockBot(chatId: number, blocked = true): void {
    const chat = this.chats.get(chatId) ?? this.ensureChat(chatId, "private", this.userFor(chatId));
    chat.blocked = blocked;
  }

  // --- fault injection -------------------------------------------------------------------

  /**
   * The next `times` calls of `method` answer `error` instead of being performed (still recorded).
   * Without a `description`, the answer has none: Telegram always sends one, but other Bot API
   * servers (emulators, proxies) have been seen leaving it out.
   */
  failNext(
    method: string,
    error: { error_code: number; description?: string; parameters?: { retry_after?: number } },
    times = 1,
  ): void {
    const key = method.toLowerCase();
    const list = this.failures.get(key) ?? [];
    list.push({
      error: {
        ok: false,
        error_code: error.error_code,
        ...(error.description !== undefined ? { description: error.description } : {}),
        ...(error.parameters ? { parameters: error.parameters } : {}),
      },
      remaining: times,
    });
    this.failures.set(key, list);
  }

  // --- inspection ------------------------------------------------------------------------

  callsOf(method: string): RecordedCall[] {
    const key = method.toLowerCase();
    return this.calls.filter((c) => c.method.toLowerCase() === key);
  }

  /** The seq the next recorded call will get: pass it as `since` to wait only for later calls. */
  get nextSeq(): number {
    return this.calls.length + 1;
  }

  /**
   * Resolves with the first call matching `predicate` (or of that method name) that is already
   * recorded with seq >= `since` (default: any), or the next one to be recorded. A getUpdates
   * call is offered twice: on arrival (response null) and again once answered, so
   * `c => c.method === "getUpdates" && c.response?.ok === true` waits for the answer.
   */
  waitForCall(
    predicate: ((c: RecordedCall) => boolean) | string,
    opts: { timeoutMs?: number; since?: number } = {},
  ): Promise<RecordedCall> {
    const since = opts.since ?? 0;
    const timeoutMs = opts.timeoutMs ?? 15_000;
    const pred =
      typeof predicate === "string"
        ? (c: RecordedCall) => c.method.toLowerCase() === predicate.toLowerCase()
        : predicate;
    return this.callWaiters.wait(
      this.calls.filter((c) => c.seq >= since),
      (c) => c.seq >= since && pred(c),
      timeoutMs,
      () => `BotApiDouble.waitForCall: no matching call within ${timeoutMs} ms (since seq ${since}).\n${this.describeRecentCalls()}`,
    );
  }

  /**
   * Stops reading upload bodies (after the chunk in hand) until `resumeUploads`: uploads hang
   * mid-way, as over a slow link. Like any server, the double only notices that a client gave
   * up once it reads again and finds the body cut short (the call is then recorded with
   * response null); what the kernel had already buffered is read first.
   */
  pauseUploads(): void {
    if (this.uploadGate) return;
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.uploadGate = { promise, open };
  }

  /** Reads upload bodies at `bytesPerSecond` at most (a slow link); null for full speed. */
  throttleUploads(bytesPerSecond: number | null): void {
    this.uploadRate = bytesPerSecond ?? undefined;
  }

  resumeUploads(): void {
    this.uploadGate?.open();
    this.uploadGate = undefined;
  }

  /** Files being received right now (snapshots; `size` is what arrived so far). */
  uploadsInFlight(): UploadedFile[] {
    return [...this.inFlight].map((f) => ({ ...f }));
  }

  /** Resolves with an upload (in flight or finished) once it has received at least `n` bytes. */
  waitForUploadBytes(n: number, opts: { timeoutMs?: number } = {}): Promise<UploadedFile> {
    return this.waitForUpload((f) => f.size >= n, { ...opts, what: `waitForUploadBytes(${n})` });
  }

  /** Resolves with the first file of an upload (in flight or finished) that matches, as it arrives. */
  waitForUpload(match: (f: UploadedFile) => boolean, opts: { timeoutMs?: number; what?: string } = {}): Promise<UploadedFile> {
    const timeoutMs = opts.timeoutMs ?? 15_000;
    const seen = [...this.inFlight, ...this.calls.flatMap((c) => c.files)];
    return this.uploadWaiters
      .wait(seen, match, timeoutMs, () => `BotApiDouble.${opts.what ?? "waitForUpload"}: not reached within ${timeoutMs} ms.\n${this.describeRecentCalls()}`)
      .then((f) => ({ ...f }));
  }

  /** Resolves when a getUpdates long poll is being held (now or later): the bot is listening. */
  async waitForPendingPoll(opts: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 15_000;
    await this.pollWaiters.wait(
      this.pollers.size > 0 ? [true as const] : [],
      () => true,
      timeoutMs,
      () => `BotApiDouble.waitForPendingPoll: no long poll within ${timeoutMs} ms.\n${this.describeRecentCalls()}`,
    );
  }

  /** The chat as the user sees the bot's messages: edits applied, deletions flagged. Snapshots. */
  chat(chatId: number): ChatMessage[] {
    const chat = this.chats.get(chatId);
    if (!chat) return [];
    return [...chat.messages.values()].filter((m) => m.fromBot).map((m) => viewOf(chatId, m));
  }

  /** The bot's messages in `chatId` that are not deleted. */
  visibleMessages(chatId: number): ChatMessage[] {
    return this.chat(chatId).filter((m) => !m.deleted);
  }

  callbackQueries(): CallbackQueryRecord[] {
    return [...this.callbackQueryRecords.values()].map((r) => structuredClone(r));
  }

  unansweredCallbackQueries(): CallbackQueryRecord[] {
    return this.callbackQueries().filter((r) => !r.answered);
  }

  /** Commands set with setMyCommands for the default scope and no language. */
  get commands(): BotCommand[] {
    return structuredClone(this.commandSets.get(commandKey(undefined, undefined)) ?? []);
  }

  /** Updates queued and not yet confirmed by the bot (via a later getUpdates offset). */
  pendingUpdates(): Update[] {
    return structuredClone(this.updates);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const poller of [...this.pollers]) poller.finish([]);
    // Let the long polls just ended write their answers before the sockets go.
    await Promise.allSettled([...this.pollResponses]);
    this.resumeUploads();
    this.callWaiters.rejectAll("BotApiDouble stopped");
    this.uploadWaiters.rejectAll("BotApiDouble stopped");
    this.pollWaiters.rejectAll("BotApiDouble stopped");
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await rm(this.tmpDir, { recursive: true, force: true });
  }

  // --- HTTP plumbing ---------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedAt = Date.now();
    const url = new URL(req.url ?? "/", this.apiRoot);
    const download = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (download) {
      await this.serveDownload(req, res, download[1] ?? "", decodeURIComponent(download[2] ?? ""));
      return;
    }
    const call = /^\/bot([^/]+)\/([^/]*)$/.exec(url.pathname);
    if (!call) {
      req.resume();
      writeJson(res, 404, { ok: false, error_code: 404, description: "Not Found" });
      return;
    }
    if (call[1] !== this.token) {
      req.resume();
      writeJson(res, 401, { ok: false, error_code: 401, description: "Unauthorized" });
      return;
    }
    const entry = this.handlers.get((call[2] ?? "").toLowerCase());
    const method = entry?.name ?? call[2] ?? "";

    const params: Params = {};
    const files: UploadedFile[] = [];
    let response: ApiResponse;
    try {
      await this.readParams(req, url, params, files);
    } catch (err) {
      if (err instanceof ApiError || err instanceof MultipartError) {
        const body = err instanceof ApiError ? err.body() : bad(err.message).body();
        this.record(method, params, files, startedAt, body);
        writeJson(res, body.error_code, body);
      } else {
        // The client went away mid-request (e.g. an upload was cancelled).
        this.record(method, params, files, startedAt, null);
      }
      return;
    }

    const failure = this.takeFailure(method);
    if (failure) {
      response = failure;
    } else if (files.some((f) => f.tooLarge)) {
      response = { ok: false, error_code: 413, description: "Request Entity Too Large" };
    } else if (!entry) {
      response = { ok: false, error_code: 404, description: "Not Found" };
    } else {
      if (entry.name === "getUpdates" && !clientGone(res)) {
        // stop() waits for these, so that long polls it ends still get their answer out
        // (Node flushes a response on a later tick; closing sockets at once would cut it).
        const done = new Promise<void>((resolve) => {
          const settle = (): void => {
            this.pollResponses.delete(done);
            resolve();
          };
          res.once("finish", settle);
          res.once("close", settle);
        });
        this.pollResponses.add(done);
      }
      if (entry.name === "getUpdates") {
        // A long poll is recorded when it arrives (so a test can see "the bot is polling"),
        // and its response is filled in, and waiters told again, once it is answered.
        const call = this.record(method, params, files, startedAt, null);
        const result = await this.runHandler(entry.handler, { params, files, res });
        if (result === ABORTED) return;
        call.response = result;
        this.callWaiters.notify(call);
        writeJson(res, result.ok ? 200 : result.error_code, result);
        return;
      }
      const result = await this.runHandler(entry.handler, { params, files, res });
      if (result === ABORTED) return;
      response = result;
    }
    this.record(method, params, files, startedAt, response);
    writeJson(res, response.ok ? 200 : response.error_code, response);
  }

  private async runHandler(handler: Handler, ctx: CallContext): Promise<ApiResponse | typeof ABORTED> {
    try {
      const result = await handler(ctx);
      if (result === ABORTED) return ABORTED;
      return { ok: true, result };
    } catch (err) {
      if (err instanceof ApiError) return err.body();
      if (err instanceof TextError) return { ok: false, error_code: 400, description: err.message };
      throw err;
    }
  }

  private record(
    method: string,
    params: Params,
    files: UploadedFile[],
    startedAt: number,
    response: ApiResponse | null,
  ): RecordedCall {
    const call: RecordedCall = {
      seq: this.calls.length + 1,
      method,
      params,
      files,
      at: Date.now(),
      startedAt,
      response,
    };
    this.calls.push(call);
    this.callWaiters.notify(call);
    return call;
  }

  private async readParams(req: IncomingMessage, url: URL, params: Params, files: UploadedFile[]): Promise<void> {
    for (const [k, v] of url.searchParams) params[k] = v;
    const contentType = req.headers["content-type"] ?? "";
    const lower = contentType.toLowerCase();
    if (lower.includes("multipart/form-data")) {
      await readMultipart(req, boundaryOf(contentType), {
        field: (name, value) => {
          params[name] = value;
        },
        file: (info) => this.uploadSink(info, files),
      });
    } else if (lower.includes("application/json")) {
      const text = await readSmallBody(req);
      if (text.trim() !== "") {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          throw bad("can't parse JSON object");
        }
        if (!isObject(parsed)) throw bad("JSON object expected");
        Object.assign(params, parsed);
      }
    } else if (lower.includes("application/x-www-form-urlencoded")) {
      for (const [k, v] of new URLSearchParams(await readSmallBody(req))) params[k] = v;
    } else {
      for await (const _ of req) {
        // Other bodies carry no parameters for the Bot API; drain them.
      }
    }
    for (const key of Object.keys(params)) params[key] = decodeParam(key, params[key]);
  }

  /** Streams one uploaded file to disk while hashing and counting it; never buffers it whole. */
  private uploadSink(info: PartInfo, files: UploadedFile[]): FileSink {
    const n = ++this.uploadCounter;
    const safeName = (info.filename ?? "file").replace(/[^\w.\-]+/g, "_").slice(-80) || "file";
    const record: UploadedFile = {
      field: info.name,
      filename: info.filename ?? "",
      contentType: info.contentType,
      size: 0,
      sha256: "",
      path: join(this.tmpDir, `${n}-${safeName}`),
      tooLarge: false,
      complete: false,
    };
    const hash = createHash("sha256");
    // Not stored (the bench): hashed and counted only, no write per chunk to /dev/null.
    const out = this.storeUploads ? createWriteStream(record.path) : undefined;
    // The file stream always has an 'error' listener: its errors come out of write()/end() as
    // their rejection, never as an 'error' event nobody listens to (an uncaught exception).
    // abort() needs this too: destroy() while an fs write is still in flight (the client broke
    // off right after a chunk that did not fill the buffer) ends in an 'error' event with
    // ERR_STREAM_DESTROYED once that write returns. After an abort the part is discarded
    // anyway, so that late error means nothing.
    let failure: Error | undefined;
    out?.on("error", (err) => {
      failure ??= err;
    });
    this.inFlight.add(record);
    this.maxConcurrentUploads = Math.max(this.maxConcurrentUploads, this.inFlight.size);
    return {
      write: async (chunk) => {
        record.size += chunk.length;
        hash.update(chunk);
        this.uploadWaiters.notify(record);
        if (record.size > this.maxUploadBytes) {
          record.tooLarge = true; // keep reading (to answer 413) but stop storing
        } else if (out) {
          if (failure) throw failure;
          if (!out.write(chunk)) await once(out, "drain"); // rejects if the stream fails meanwhile
        }
        if (this.uploadGate) await this.uploadGate.promise;
        // A slow link: the body arrives at this rate at most.
        if (this.uploadRate) await new Promise((r) => setTimeout(r, (chunk.length / this.uploadRate!) * 1000));
      },
      end: async () => {
        if (failure) throw failure;
        if (out) {
          out.end();
          await once(out, "close");
        }
        record.sha256 = hash.digest("hex");
        record.complete = true;
        this.inFlight.delete(record);
        files.push(record);
        this.uploadWaiters.notify(record);
      },
      abort: () => {
        out?.destroy();
        record.sha256 = hash.digest("hex"); // of the part that arrived
        this.inFlight.delete(record);
        files.push(record);
      },
    };
  }

  /** Local mode: getFile puts the file in this server's own folder and answers with its absolute path. */
  private localCopy(file: StoredFile): string {
    const target = join(this.tmpDir, "local", file.file_path);
    if (!existsSync(target)) {
      mkdirSync(dirname(target), { recursive: true });
      if ("bytes" in file.source) writeFileSync(target, file.source.bytes);
      else copyFileSync(file.source.path, target);
    }
    return target;
  }

  private async serveDownload(req: IncomingMessage, res: ServerResponse, token: string, filePath: string): Promise<void> {
    req.resume();
    if (token !== this.token) {
      writeJson(res, 401, { ok: false, error_code: 401, description: "Unauthorized" });
      return;
    }
    const file = this.filesByPath.get(filePath);
    if (!file || this.refusedFiles.has(file.file_id)) {
      writeJson(res, 404, { ok: false, error_code: 404, description: "Not Found" });
      return;
    }
    this.fileDownloads.push({ filePath, at: Date.now() });
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": file.size });
    if (req.method === "HEAD") {
      res.end();
    } else if ("bytes" in file.source) {
      res.end(file.source.bytes);
    } else {
      await pipeline(createReadStream(file.source.path), res).catch(() => {
        // The client stopped reading; nothing to do.
      });
    }
  }

  private takeFailure(method: string): ApiErrorBody | undefined {
    const list = this.failures.get(method.toLowerCase());
    const next = list?.find((f) => f.remaining > 0);
    if (!next) return undefined;
    next.remaining--;
    return structuredClone(next.error);
  }

  private describeRecentCalls(): string {
    const recent = this.calls.slice(-20);
    if (recent.length === 0) return "No calls were made.";
    const lines = recent.map((c) => {
      const params = JSON.stringify(c.params);
      const res =
        c.response === null ? "(no answer: held or abandoned)" : c.response.ok ? "ok" : `${c.response.error_code} ${c.response.description}`;
      return `  #${c.seq} ${c.method} ${params.length > 160 ? `${params.slice(0, 157)}...` : params} -> ${res}`;
    });
    return `Recent calls:\n${lines.join("\n")}`;
  }

  // --- updates and long polling ------------------------------------------------------------

  private enqueue(update: Update): Update {
    update.update_id = this.nextUpdateId++;
    this.updates.push(update);
    for (const poller of [...this.pollers]) {
      const ready = this.deliverable(poller.limit);
      if (ready.length > 0) poller.finish(ready);
    }
    return structuredClone(update);
  }

  private deliverable(limit: number): Update[] {
    const allowed = (u: Update): boolean => {
      const type = Object.keys(u).find((k) => k !== "update_id") ?? "";
      return this.allowedUpdates ? this.allowedUpdates.has(type) : !NOT_DEFAULT_UPDATES.has(type);
    };
    return this.updates.filter(allowed).slice(0, limit);
  }

  private getUpdates({ params, res }: CallContext): Promise<Update[] | typeof ABORTED> | Update[] | typeof ABORTED {
    const offset = int(params, "offset");
    const limit = Math.min(100, Math.max(1, int(params, "limit") ?? 100));
    const timeout = Math.max(0, int(params, "timeout") ?? 0);
    const allowed = params["allowed_updates"];
    if (Array.isArray(allowed)) {
      // Telegram remembers the last setting; an empty list means "the default set".
      this.allowedUpdates = allowed.length > 0 ? new Set(allowed.map(String)) : undefined;
    }
    if (offset !== undefined && offset > 0) this.updates = this.updates.filter((u) => u.update_id >= offset);
    else if (offset !== undefined && offset < 0) this.updates = this.updates.slice(offset);

    // Only one getUpdates may run: the earlier one is terminated with 409, as on Telegram.
    for (const poller of [...this.pollers]) poller.finish(new ApiError(409, CONFLICT));

    const ready = this.deliverable(limit);
    if (ready.length > 0 || timeout === 0 || this.stopped) return structuredClone(ready);
    if (clientGone(res)) return ABORTED;

    return new Promise<Update[] | typeof ABORTED>((resolve, reject) => {
      let done = false;
      const poller: Poller = {
        limit,
        finish: (result) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          this.pollers.delete(poller);
          res.off("close", onClose);
          // A poll the client already abandoned is not answered (nor recorded), 409 or not.
          if (clientGone(res)) resolve(ABORTED);
          else if (result instanceof ApiError) reject(result);
          else resolve(result === ABORTED ? ABORTED : structuredClone(result));
        },
      };
      const timer = setTimeout(() => poller.finish([]), timeout * 1000);
      // grammY aborts the pending poll on bot.stop(): forget the waiter quietly.
      const onClose = (): void => {
        if (!res.writableEnded) poller.finish(ABORTED);
      };
      res.on("close", onClose);
      this.pollers.add(poller);
      this.pollWaiters.notify(true);
    });
  }

  // --- chats and messages ----------------------------------------------------------------

  private userFor(chatId: number, fromId?: number): User {
    const id = fromId ?? (chatId > 0 ? chatId : 42);
    return { id, is_bot: false, first_name: `User ${id}`, username: `user${id}`, language_code: "en" };
  }

  private ensureChat(chatId: number, type: InjectOptions["chatType"], user: User): ChatState {
    const existing = this.chats.get(chatId);
    if (existing) return existing;
    const kind = type ?? (chatId > 0 ? "private" : "group");
    let chat: ChatState["chat"];
    if (kind === "private") {
      chat = { id: chatId, type: "private", first_name: user.first_name, ...(user.username ? { username: user.username } : {}) };
    } else if (kind === "group") {
      chat = { id: chatId, type: "group", title: "Test group" };
    } else {
      chat = { id: chatId, type: "supergroup", title: "Test supergroup" };
    }
    const state: ChatState = { chat, nextMessageId: 1, messages: new Map(), blocked: false };
    this.chats.set(chatId, state);
    return state;
  }

  private storeMessage(
    chat: ChatState,
    m: Omit<StoredMessage, "deleted" | "edits" | "sentAt">,
  ): StoredMessage {
    const stored: StoredMessage = { ...m, deleted: false, edits: 0, sentAt: Date.now() };
    chat.messages.set(stored.message.message_id, stored);
    return stored;
  }

  /** The chat a sending method targets; unknown and blocked chats fail as on Telegram. */
  private targetChat(p: Params): ChatState {
    if (p["chat_id"] === undefined || p["chat_id"] === "") throw bad("chat_id is empty");
    const id = int(p, "chat_id");
    const chat = id === undefined ? undefined : this.chats.get(id);
    if (!chat) throw bad("chat not found");
    if (chat.blocked) throw new ApiError(403, "Forbidden: bot was blocked by the user");
    return chat;
  }

  /** The message an edit/delete targets. */
  private targetMessage(p: Params, notFound: string): StoredMessage {
    if (p["inline_message_id"] !== undefined) throw bad("MESSAGE_ID_INVALID");
    if (p["chat_id"] === undefined || p["chat_id"] === "") throw bad("chat_id is empty");
    const id = int(p, "chat_id");
    const chat = id === undefined ? undefined : this.chats.get(id);
    if (!chat) throw bad("chat not found");
    const messageId = int(p, "message_id");
    if (messageId === undefined) throw bad("message identifier is not specified");
    const stored = chat.messages.get(messageId);
    if (!stored || stored.deleted) throw bad(notFound);
    return stored;
  }

  private replyTarget(chat: ChatState, p: Params): StoredMessage | undefined {
    const rp = p["reply_parameters"];
    const id = isObject(rp) && typeof rp["message_id"] === "number" ? rp["message_id"] : int(p, "reply_to_message_id");
    if (id === undefined) return undefined;
    const target = chat.messages.get(id);
    if (target && !target.deleted) return target;
    const allow = bool(p, "allow_sending_without_reply") || (isObject(rp) && rp["allow_sending_without_reply"] === true);
    if (allow) return undefined;
    throw bad("message to be replied not found");
  }

  /** text/caption after parse_mode, trimming and Telegram's own entity detection. */
  private formatted(p: Params, textKey: "text" | "caption", entitiesKey: "entities" | "caption_entities"): FormattedText | undefined {
    const raw = str(p, textKey);
    if (raw === undefined) return undefined;
    const mode = str(p, "parse_mode")?.toLowerCase();
    let ft: FormattedText;
    if (mode === undefined || mode === "") {
      const given = p[entitiesKey];
      ft = { text: raw, entities: Array.isArray(given) ? (given as MessageEntity[]) : [] };
    } else if (mode === "html") {
      ft = parseHtml(raw);
    } else if (mode === "markdown" || mode === "markdownv2") {
      ft = { text: raw, entities: [] }; // Markdown is not modelled: the text is taken as is.
    } else {
      throw bad("unsupported parse_mode");
    }
    ft = trimFormatted(ft);
    return { text: ft.text, entities: withDetectedEntities(ft.text, ft.entities) };
  }

  /**
   * Validates reply_markup. Returns the inline keyboard to attach (normalised: empty rows and
   * empty keyboards vanish, as on Telegram), or undefined for none / a non-inline keyboard.
   */
  private markup(p: Params, inlineOnly: boolean): InlineKeyboardMarkup | undefined {
    const raw = p["reply_markup"];
    if (raw === undefined || raw === null) return undefined;
    if (!isObject(raw)) throw bad("can't parse reply keyboard markup JSON object");
    if (!("inline_keyboard" in raw)) {
      if (inlineOnly) throw bad("inline keyboard expected");
      if ("keyboard" in raw || "remove_keyboard" in raw || "force_reply" in raw) return undefined;
      throw bad("can't parse reply keyboard markup JSON object");
    }
    const rows = raw["inline_keyboard"];
    if (!Array.isArray(rows)) throw bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array');
    const out: InlineKeyboardButton[][] = [];
    for (const row of rows) {
      if (!Array.isArray(row)) throw bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays');
      const buttons = row.map((b) => normaliseButton(b));
      if (buttons.length > 0) out.push(buttons);
    }
    return out.length > 0 ? { inline_keyboard: out } : undefined;
  }

  private newBotMessage(chat: ChatState, p: Params, body: Partial<Message>, kind: MessageKind, extra: Partial<StoredMessage> = {}): Message {
    const replyTo = this.replyTarget(chat, p);
    const markup = this.markup(p, false);
    const message: Message = {
      message_id: chat.nextMessageId++,
      from: this.botAsSender,
      chat: chat.chat,
      date: unixNow(),
      ...body,
    };
    if (replyTo) message.reply_to_message = snapshotForReply(replyTo.message);
    if (markup) message.reply_markup = markup;
    this.storeMessage(chat, { message, fromBot: true, kind, ...extra });
    return structuredClone(message);
  }

  // --- files -----------------------------------------------------------------------------

  private registerFile(kind: FileKind, f: Omit<StoredFile, "file_id" | "file_unique_id" | "file_path" | "kind">): StoredFile {
    const n = ++this.fileCounter;
    const ext = (f.file_name ? extname(f.file_name) : "") || DEFAULT_EXT[kind];
    const stored: StoredFile = {
      ...f,
      kind,
      file_id: `${FILE_ID_PREFIX[kind]}${n}_${randomBytes(12).toString("base64url")}`,
      file_unique_id: `AgAD${n}${randomBytes(4).toString("base64url")}`,
      file_path: `${FILE_DIR[kind]}/file_${n}${ext}`,
    };
    this.filesById.set(stored.file_id, stored);
    this.filesByPath.set(stored.file_path, stored);
    return stored;
  }

  /** The file a send method refers to: an upload (attach:// or a part named after the param) or a known file_id. */
  private inputFile(kind: FileKind, p: Params, files: UploadedFile[]): { stored: StoredFile; upload?: UploadedFile } {
    const value = p[kind];
    let upload: UploadedFile | undefined;
    if (typeof value === "string" && value.startsWith("attach://")) {
      upload = files.find((f) => f.field === value.slice("attach://".length));
      if (!upload) throw bad("wrong file identifier/HTTP URL specified");
    } else if (value === undefined || value === "") {
      upload = files.find((f) => f.field === kind);
      if (!upload) throw bad(`there is no ${kind} in the request`);
    } else if (typeof value === "string" && /^file:/i.test(value)) {
      return { stored: this.localInputFile(kind, value) };
    } else if (typeof value === "string") {
      // Telegram would fetch an HTTP URL itself; it cannot reach this machine's loopback.
      if (/^https?:\/\//i.test(value)) throw bad("failed to get HTTP URL content");
      const known = this.filesById.get(value);
      if (!known) throw bad("wrong file identifier/HTTP URL specified");
      return { stored: known };
    } else {
      throw bad("wrong file identifier/HTTP URL specified");
    }
    if (upload.size === 0) throw bad("file must be non-empty");
    const stored = this.registerFile(kind, {
      size: upload.size,
      sha256: upload.sha256,
      file_name: upload.filename || undefined,
      mime_type: guessMime(upload.filename),
      source: { path: upload.path },
    });
    return { stored, upload };
  }

  /**
   * A file named by `file://` URL. Only a local server takes those; the cloud reads the string as a
   * file_id and trips over its characters. The local server decodes the URL, resolves the path and
   * reads the file from its own disk (here: hashes it in chunks, never whole in memory).
   */
  private localInputFile(kind: FileKind, url: string): StoredFile {
    if (!this.localMode) throw bad("wrong remote file identifier specified: Wrong character in the string");
    const file = this.localPathOf(url);
    const size = statSync(file).size;
    if (size === 0) throw bad("file must be non-empty");
    if (size > this.maxUploadBytes) throw new ApiError(413, "Request Entity Too Large");
    return this.registerFile(kind, {
      size,
      sha256: hashFileSync(file),
      file_name: basename(file),
      mime_type: guessMime(file),
      source: { path: file },
      localPath: file,
    });
  }

  /** The path a `file://` URL names, as the local server sees it; refused when it cannot read it. */
  private localPathOf(url: string): string {
    let file: string;
    try {
      file = fileURLToPath(url);
    } catch {
      throw bad("wrong file identifier/HTTP URL specified");
    }
    const visible = !this.localRoots || this.localRoots.some((root) => file === root || file.startsWith(root + sep));
    let readable = false;
    try {
      readable = visible && statSync(file).isFile();
      if (readable) closeSync(openSync(file, "r"));
    } catch {
      readable = false;
    }
    if (!readable) throw bad(`realpath failed for ${file}`);
    return file;
  }

  /** An album: 2-10 media, documents only with documents and audio only with audio, as Telegram allows. */
  private sendMediaGroup(ctx: CallContext): Message[] {
    const { params: p } = ctx;
    const media = p["media"];
    if (!Array.isArray(media)) throw bad("can't parse media JSON object");
    if (media.length < 2 || media.length > 10) throw bad("wrong number of media in the media group: must be 2-10");
    const types = media.map((m) => (isObject(m) && typeof m["type"] === "string" ? m["type"] : ""));
    for (const type of ["document", "audio"]) {
      if (types.includes(type) && types.some((t) => t !== type)) throw bad(`${type} can't be mixed with other media types`);
    }
    if (types.some((t) => !["document", "audio", "video", "photo"].includes(t))) throw bad("unsupported media type in the media group");
    const group = String(++this.fileCounter * 1000 + 7);
    return media.map((m, i) => {
      const entry = m as Record<string, unknown>;
      const kind = types[i] as Exclude<MessageKind, "text">;
      // Each entry is sent like its own method, with the call's chat and reply.
      const params: Params = { chat_id: p["chat_id"], reply_parameters: p["reply_parameters"], ...entry, [kind]: entry["media"] };
      const message = this.sendMedia(kind, { ...ctx, params });
      return { ...message, media_group_id: group };
    });
  }

  private sendMedia(kind: Exclude<MessageKind, "text">, { params: p, files }: CallContext): Message {
    const chat = this.targetChat(p);
    const caption = this.formatted(p, "caption", "caption_entities");
    if (caption && charCount(caption.text) > 1024) throw bad("message caption is too long");
    const { stored, upload } = this.inputFile(kind, p, files);
    const thumbnail = p["thumbnail"];
    if (typeof thumbnail === "string" && /^file:/i.test(thumbnail)) {
      if (!this.localMode) throw bad("wrong remote file identifier specified: Wrong character in the string");
      this.localPathOf(thumbnail);
    }
    const body: Partial<Message> = {};
    const width = int(p, "width") ?? 0;
    const height = int(p, "height") ?? 0;
    const duration = int(p, "duration") ?? 0;
    if (kind === "document") {
      body.document = documentOf(stored);
    } else if (kind === "video") {
      body.video = {
        file_id: stored.file_id,
        file_unique_id: stored.file_unique_id,
        width,
        height,
        duration,
        ...(stored.file_name ? { file_name: stored.file_name } : {}),
        mime_type: stored.mime_type ?? "video/mp4",
        file_size: stored.size,
      };
    } else if (kind === "audio") {
      const performer = str(p, "performer");
      const title = str(p, "title");
      body.audio = {
        file_id: stored.file_id,
        file_unique_id: stored.file_unique_id,
        duration,
        ...(performer ? { performer } : {}),
        ...(title ? { title } : {}),
        ...(stored.file_name ? { file_name: stored.file_name } : {}),
        mime_type: stored.mime_type ?? "audio/mpeg",
        file_size: stored.size,
      };
    } else {
      body.photo = [{ file_id: stored.file_id, file_unique_id: stored.file_unique_id, width, height, file_size: stored.size }];
    }
    if (caption && caption.text !== "") {
      body.caption = caption.text;
      if (caption.entities.length > 0) body.caption_entities = caption.entities;
    }
    return this.newBotMessage(chat, p, body, kind, { file: stored, upload });
  }

  // --- methods ---------------------------------------------------------------------------

  private buildHandlers(): Map<string, { name: string; handler: Handler }> {
    const methods: Record<string, Handler> = {
      getMe: () => this.botUser,
      logOut: () => true,
      close: () => true,
      deleteWebhook: ({ params }) => {
        if (bool(params, "drop_pending_updates")) this.updates = [];
        return true;
      },
      getWebhookInfo: () => ({ url: "", has_custom_certificate: false, pending_update_count: this.updates.length }),
      getUpdates: (ctx) => this.getUpdates(ctx),

      setMyCommands: ({ params }) => {
        const commands = params["commands"];
        if (!Array.isArray(commands)) throw bad("can't parse commands JSON object");
        const clean: BotCommand[] = commands.map((c: unknown) => {
          if (!isObject(c) || typeof c["command"] !== "string" || typeof c["description"] !== "string") {
            throw bad("can't parse BotCommand JSON object");
          }
          const command = c["command"].replace(/^\//, "");
          if (!/^[a-z0-9_]{1,32}$/.test(command)) throw bad("BOT_COMMAND_INVALID");
          if (c["description"].trim() === "" || charCount(c["description"]) > 256) throw bad("BOT_COMMAND_DESCRIPTION_INVALID");
          return { command, description: c["description"] };
        });
        this.commandSets.set(commandKey(params["scope"], str(params, "language_code")), clean);
        return true;
      },
      getMyCommands: ({ params }) => this.commandSets.get(commandKey(params["scope"], str(params, "language_code"))) ?? [],
      deleteMyCommands: ({ params }) => {
        this.commandSets.delete(commandKey(params["scope"], str(params, "language_code")));
        return true;
      },

      sendChatAction: ({ params }) => {
        this.targetChat(params);
        if (!CHAT_ACTIONS.has(str(params, "action") ?? "")) throw bad("wrong parameter action in request");
        return true;
      },

      sendMessage: ({ params: p }) => {
        const chat = this.targetChat(p);
        const ft = this.formatted(p, "text", "entities");
        if (!ft || ft.text === "") throw bad("message text is empty");
        if (charCount(ft.text) > 4096) throw bad("message is too long");
        const body: Partial<Message> = { text: ft.text };
        if (ft.entities.length > 0) body.entities = ft.entities;
        return this.newBotMessage(chat, p, body, "text");
      },

      editMessageText: ({ params: p }) => {
        const stored = this.targetMessage(p, "message to edit not found");
        if (!stored.fromBot) throw bad("message can't be edited");
        if (stored.kind !== "text") throw bad("there is no text in the message to edit");
        const ft = this.formatted(p, "text", "entities");
        if (!ft || ft.text === "") throw bad("message text is empty");
        if (charCount(ft.text) > 4096) throw bad("message is too long");
        // No reply_markup in an edit removes the inline keyboard, as on Telegram.
        const markup = this.markup(p, true);
        const m = stored.message;
        if (m.text === ft.text && sameJson(m.entities ?? [], ft.entities) && sameJson(m.reply_markup, markup)) {
          throw new ApiError(400, NOT_MODIFIED);
        }
        m.text = ft.text;
        setOptional(m, "entities", ft.entities.length > 0 ? ft.entities : undefined);
        setOptional(m, "reply_markup", markup);
        return this.markEdited(stored);
      },

      editMessageCaption: ({ params: p }) => {
        const stored = this.targetMessage(p, "message to edit not found");
        if (!stored.fromBot) throw bad("message can't be edited");
        if (stored.kind === "text") throw bad("there is no caption in the message to edit");
        const ft = this.formatted(p, "caption", "caption_entities") ?? { text: "", entities: [] };
        if (charCount(ft.text) > 1024) throw bad("message caption is too long");
        const markup = this.markup(p, true);
        const m = stored.message;
        if ((m.caption ?? "") === ft.text && sameJson(m.caption_entities ?? [], ft.entities) && sameJson(m.reply_markup, markup)) {
          throw new ApiError(400, NOT_MODIFIED);
        }
        setOptional(m, "caption", ft.text !== "" ? ft.text : undefined);
        setOptional(m, "caption_entities", ft.entities.length > 0 ? ft.entities : undefined);
        setOptional(m, "reply_markup", markup);
        return this.markEdited(stored);
      },

      editMessageReplyMarkup: ({ params: p }) => {
        const stored = this.targetMessage(p, "message to edit not found");
        if (!stored.fromBot) throw bad("message can't be edited");
        const markup = this.markup(p, true);
        if (sameJson(stored.message.reply_markup, markup)) throw new ApiError(400, NOT_MODIFIED);
        setOptional(stored.message, "reply_markup", markup);
        return this.markEdited(stored);
      },

      deleteMessage: ({ params: p }) => {
        const stored = this.targetMessage(p, "message to delete not found");
        stored.deleted = true;
        stored.deletedAt = Date.now();
        return true;
      },

      sendDocument: (ctx) => this.sendMedia("document", ctx),
      sendVideo: (ctx) => this.sendMedia("video", ctx),
      sendAudio: (ctx) => this.sendMedia("audio", ctx),
      sendPhoto: (ctx) => this.sendMedia("photo", ctx),
      sendMediaGroup: (ctx) => this.sendMediaGroup(ctx),

      answerCallbackQuery: ({ params: p }) => {
        const id = str(p, "callback_query_id") ?? "";
        const record = this.callbackQueryRecords.get(id);
        if (!record || record.answered) {
          throw bad("query is too old and response timeout expired or query ID is invalid");
        }
        record.answered = true;
        record.answer = {
          ...(str(p, "text") !== undefined ? { text: str(p, "text") } : {}),
          ...(p["show_alert"] !== undefined ? { show_alert: bool(p, "show_alert") } : {}),
          ...(str(p, "url") !== undefined ? { url: str(p, "url") } : {}),
          ...(int(p, "cache_time") !== undefined ? { cache_time: int(p, "cache_time") } : {}),
          at: Date.now(),
        };
        return true;
      },

      getChatMember: ({ params: p }) => {
        const chat = this.targetChat(p);
        const userId = int(p, "user_id");
        if (userId === undefined) throw bad("user_id is empty");
        const status = this.members.get(`${chat.chat.id} ${userId}`) ?? "left";
        const user: User = { id: userId, is_bot: false, first_name: `User ${userId}` };
        return status === "restricted" ? { status, user, is_member: true, until_date: 0 } : { status, user };
      },

      getFile: ({ params: p }): TelegramFile => {
        const fileId = str(p, "file_id") ?? "";
        const refused = this.refusedFiles.get(fileId);
        if (refused !== undefined) throw new ApiError(400, refused);
        const file = this.filesById.get(fileId);
        if (!file) throw bad("invalid file_id");
        if (file.size > this.maxDownloadBytes) throw bad("file is too big");
        const filePath = this.localMode ? this.localCopy(file) : file.file_path;
        return { file_id: file.file_id, file_unique_id: file.file_unique_id, file_size: file.size, file_path: filePath };
      },
    };
    return new Map(Object.entries(methods).map(([name, handler]) => [name.toLowerCase(), { name, handler }]));
  }

  private markEdited(stored: StoredMessage): Message {
    stored.edits++;
    stored.editedAt = Date.now();
    stored.message.edit_date = unixNow();
    return structuredClone(stored.message);
  }
}

// --- helpers ------------------------------------------------------------------------------

function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

/** The client closed the connection (e.g. grammY aborted its long poll on bot.stop()). */
function clientGone(res: ServerResponse): boolean {
  return res.destroyed || !res.socket || res.socket.destroyed;
}

function writeJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed || res.writableEnded) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

/** Parameter bodies (JSON, form) are small; refuse absurd ones instead of buffering them. */
async function readSmallBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 10 * 1024 * 1024) throw new ApiError(413, "Request Entity Too Large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function guessMime(fileName: string | undefined): string | undefined {
  if (!fileName) return undefined;
  return MIME_TYPES[extname(fileName).toLowerCase()] ?? "application/octet-stream";
}

function documentOf(f: StoredFile): NonNullable<Message["document"]> {
  return {
    file_id: f.file_id,
    file_unique_id: f.file_unique_id,
    ...(f.file_name ? { file_name: f.file_name } : {}),
    ...(f.mime_type ? { mime_type: f.mime_type } : {}),
    file_size: f.size,
  };
}

/** A replied-to message is embedded without its own reply_to_message, as in the Bot API. */
function snapshotForReply(m: Message): NonNullable<Message["reply_to_message"]> {
  const { reply_to_message: _ignored, ...rest } = structuredClone(m);
  return { ...rest, reply_to_message: undefined };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function setOptional<T extends object, K extends keyof T>(obj: T, key: K, value: T[K] | undefined): void {
  if (value === undefined) delete obj[key];
  else obj[key] = value;
}

function commandKey(scope: unknown, language: string | undefined): string {
  return JSON.stringify([isObject(scope) ? scope : { type: "default" }, language ?? ""]);
}

/** Checks one inline button like Telegram and returns it with a stable key order (text first). */
function normaliseButton(b: unknown): InlineKeyboardButton {
  if (!isObject(b)) throw bad("can't parse inline keyboard button: InlineKeyboardButton must be an Object");
  if (typeof b["text"] !== "string") throw bad('can\'t parse inline keyboard button: Field "text" must be of type String');
  const actions = [
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
  ];
  if (!actions.some((a) => b[a] !== undefined)) {
    throw bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard");
  }
  const data = b["callback_data"];
  if (data !== undefined) {
    const bytes = typeof data === "string" ? Buffer.byteLength(data, "utf8") : 0;
    if (bytes < 1 || bytes > 64) throw bad("BUTTON_DATA_INVALID");
  }
  const url = b["url"];
  if (url !== undefined && !(typeof url === "string" && isButtonUrl(url))) throw bad("BUTTON_URL_INVALID");
  const out: Record<string, unknown> = { text: b["text"] };
  for (const key of Object.keys(b).sort()) if (key !== "text") out[key] = b[key];
  return out as unknown as InlineKeyboardButton;
}

function isButtonUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return ["http:", "https:", "tg:", "ton:"].includes(u.protocol) && (u.protocol === "tg:" || u.hostname !== "");
  } catch {
    return false;
  }
}

function viewOf(chatId: number, s: StoredMessage): ChatMessage {
  const m = s.message;
  const view: ChatMessage = {
    message_id: m.message_id,
    chat_id: chatId,
    kind: s.kind,
    deleted: s.deleted,
    edits: s.edits,
    sentAt: s.sentAt,
  };
  if (m.text !== undefined) view.text = m.text;
  if (m.caption !== undefined) view.caption = m.caption;
  const entities = m.entities ?? m.caption_entities;
  if (entities) view.entities = structuredClone(entities);
  if (m.reply_markup) view.reply_markup = structuredClone(m.reply_markup);
  if (m.reply_to_message) view.reply_to_message_id = m.reply_to_message.message_id;
  if (s.file) {
    view.file_id = s.file.file_id;
    if (s.file.file_name !== undefined) view.file_name = s.file.file_name;
    view.file_size = s.file.size;
    if (s.file.mime_type !== undefined) view.mime_type = s.file.mime_type;
    view.sha256 = s.file.sha256;
  }
  if (s.upload) view.uploadPath = s.upload.path;
  if (s.file?.localPath !== undefined) view.localPath = s.file.localPath;
  if (s.editedAt !== undefined) view.editedAt = s.editedAt;
  if (s.deletedAt !== undefined) view.deletedAt = s.deletedAt;
  return view;
}

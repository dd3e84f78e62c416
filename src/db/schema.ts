import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";
import type { ItemStatus, SourceKind } from "../items/item.ts";

export type { ItemStatus, SourceKind } from "../items/item.ts";

export interface ItemsTable {
  id: Generated<number>;
  chat_id: number;
  user_id: number | null;
  request_message_id: number | null;
  url: string;
  source_kind: SourceKind;
  title: string;
  size_bytes: number | null;
  status: ItemStatus;
  priority: ColumnType<number, number | undefined, number>;
  attempts: ColumnType<number, number | undefined, number>;
  /** Epoch milliseconds. */
  next_attempt_at: number;
  bytes_done: ColumnType<number, number | undefined, number>;
  /** An ErrorReason as JSON (migration 011; plain text before it). */
  last_error: string | null;
  error_code: string | null;
  etag: string | null;
  last_modified: string | null;
  /** The intake request it was stored for (migration 006); unique. */
  request_id: number | null;
  /** What was asked of its media, as canonical JSON (`db/wants-column.ts`; migration 014): '{}' by default. */
  wants: ColumnType<string, string | undefined, string>;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  /** What the item waits to be chosen from, a ChoiceOffer as JSON (migration 013). */
  choice_offer: string | null;
  /** The Choice as JSON: a draft while it waits, what was chosen after. */
  choice: string | null;
  /** When nobody choosing makes it go on with the default (epoch ms). */
  choice_deadline: number | null;
}

/** The message that asks a chat to choose, and the page of the list it shows (migration 013). */
export interface ChoiceMessagesTable {
  item_id: number;
  chat_id: number;
  message_id: number;
  page: ColumnType<number, number | undefined, number>;
}

/** The chat message that shows an item's progress (migration 009): the Telegram side's own. */
export interface LiveMessagesTable {
  item_id: number;
  message_id: number;
}

/** What people asked for, stored before it is checked and queued (migration 006). */
export interface IntakeRequestsTable {
  id: Generated<number>;
  chat_id: number;
  user_id: number | null;
  request_message_id: number | null;
  /** "link" (a /download argument), "torrent" (a /torrent argument), "document" (a .torrent sent: its file_id). */
  kind: "link" | "torrent" | "document";
  text: string;
  /** 1 for /download!: download again even what was delivered before. */
  fresh: number;
  /** What was asked of the link's media (`/audio`), as the item stores it (migration 014). */
  wants: ColumnType<string, string | undefined, string>;
  created_at: number;
}

/** The files an item delivers, recorded once they are all on disk (see migration 005). */
export interface ItemFilesTable {
  id: Generated<number>;
  item_id: number;
  position: number;
  path: string;
  name: string;
  size_bytes: number;
  /** Where in `path` this file's bytes start (a part of a bigger file; migration 007). */
  byte_offset: ColumnType<number, number | undefined, number>;
  /** How many parts its file was cut into; null for a whole file. */
  part_of: ColumnType<number | null, number | null | undefined, number | null>;
  /** Which part it is, 1-based (migration 010); null for a whole file or a part stored before. */
  part_index: ColumnType<number | null, number | null | undefined, number | null>;
  /** A byte split's first part: the name its parts join back into (migration 010). */
  join_as: ColumnType<string | null, string | null | undefined, string | null>;
  caption: string | null;
  file_id: string | null;
  upload_kind: string | null;
  uploaded_at: number | null;
  /**
   * 1: a byte part of a file still downloading (it may go up once its range is on disk); 0 once
   * the download is complete (migration 018).
   */
  pending: ColumnType<number, number | undefined, number>;
}

/** Switches that survive a restart (e.g. the whole queue paused); see migration 004. */
export interface SettingsTable {
  key: string;
  value: string;
  updated_at: number;
}

/**
 * What a chat chose with /settings (migration 015): a row per chat that changed anything, null
 * for a setting it never changed (the config's default then applies).
 */
export interface ChatSettingsTable {
  chat_id: number;
  ask_before_download: string | null;
  quality_cap: string | null;
  upload_as: string | null;
  split_style: string | null;
  updated_at: number;
}

/** Bot messages about an item other than its progress message, so replies can name the item. */
export interface ItemMessagesTable {
  chat_id: number;
  message_id: number;
  item_id: number;
  created_at: number;
}

/** How far each part of a file fetched over several connections got (migration 008). */
export interface DownloadSegmentsTable {
  item_id: number;
  position: number;
  start_byte: number;
  /** Exclusive. */
  end_byte: number;
  done_bytes: number;
}

/** What a chat watches (migration 016): a feed, a playlist or a listing page, and its schedule. */
export interface SubscriptionsTable {
  id: Generated<number>;
  chat_id: number;
  user_id: number | null;
  url: string;
  /** "feed", "playlist" or "listing"; null until a check read it. */
  kind: string | null;
  name: string | null;
  /** Exactly one of `every_ms` and `cron` is set. */
  every_ms: number | null;
  cron: string | null;
  match_filter: string | null;
  exclude_filter: string | null;
  last_n: ColumnType<number, number | undefined, number>;
  next_check_at: number;
  checked_at: number | null;
  /** When the first check that worked ran; null: the next check is the first. */
  baseline_at: number | null;
  failures: ColumnType<number, number | undefined, number>;
  failure_told: ColumnType<number, number | undefined, number>;
  /** A CheckResult as JSON. */
  last_result: string | null;
  created_at: number;
  updated_at: number;
}

/** Every entry a subscription has seen, once per (subscription, entry key) (migration 016). */
export interface SubscriptionEntriesTable {
  subscription_id: number;
  entry_key: string;
  url: string;
  title: string | null;
  published_at: number | null;
  outcome: string;
  item_id: number | null;
  seen_at: number;
}

export interface Database {
  chat_settings: ChatSettingsTable;
  subscriptions: SubscriptionsTable;
  subscription_entries: SubscriptionEntriesTable;
  download_segments: DownloadSegmentsTable;
  intake_requests: IntakeRequestsTable;
  torrent_metainfo: TorrentMetainfoTable;
  torrent_notices: TorrentNoticesTable;
  items: ItemsTable;
  item_files: ItemFilesTable;
  settings: SettingsTable;
  item_messages: ItemMessagesTable;
  live_messages: LiveMessagesTable;
  choice_messages: ChoiceMessagesTable;
}

export type ItemRow = Selectable<ItemsTable>;
export type NewItemRow = Insertable<ItemsTable>;
export type ItemRowUpdate = Updateable<ItemsTable>;
export type ItemFileRow = Selectable<ItemFilesTable>;

/** .torrent bytes by info hash, so a retry or restart re-adds a torrent without waiting for peers. */
export interface TorrentMetainfoTable {
  info_hash: string;
  metainfo: Uint8Array;
  created_at: number;
}

/** Chat notices about a torrent item sent once (e.g. files skipped as too large). */
export interface TorrentNoticesTable {
  item_id: number;
  kind: string;
  created_at: number;
}

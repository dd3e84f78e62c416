import type { Context } from "grammy";
import type { BotCommand } from "grammy/types";

/** The commands Telegram shows in its menu, in this order (registered at start). */
export const COMMANDS: BotCommand[] = [
  { command: "download", description: "Download a link and send the file here" },
  { command: "audio", description: "Send only the audio of a video link, as an audio file" },
  { command: "torrent", description: "Download a magnet link or .torrent" },
  { command: "queue", description: "What is downloading and waiting" },
  { command: "status", description: "Counts, pause state, active download, free disk" },
  { command: "cancel", description: "Cancel a download: /cancel 12, or reply to its message" },
  { command: "retry", description: "Queue a failed or cancelled download again" },
  { command: "pause", description: "Pause this chat's downloads, the whole queue in the admin chat (one: /pause 12)" },
  { command: "resume", description: "Resume this chat's downloads, the whole queue in the admin chat (one: /resume 12)" },
  { command: "priority", description: "Reorder: /priority 12 high|normal|low" },
  { command: "history", description: "The last finished downloads" },
  { command: "watch", description: "New episodes by themselves: /watch <feed, playlist or page> [every 2h] [match …] [last 3]" },
  { command: "watches", description: "What this chat watches" },
  { command: "unwatch", description: "Stop watching: /unwatch 3" },
  { command: "check", description: "Check a watched feed now: /check 3" },
  { command: "settings", description: "This chat's settings: ask first, quality, videos or files, how big files split" },
  { command: "help", description: "What this bot does" },
];

/**
 * Which updates must wait for which: a chat's messages run in the order sent, and so do its
 * button presses (Pause then Cancel means exactly that), but a press never waits behind a
 * message (a reply stuck in a 429 wait, say), and chats never wait for each other.
 */
export function updateOrderKey(ctx: Context): string | undefined {
  const chatId = ctx.chat?.id ?? ctx.callbackQuery?.message?.chat.id;
  if (chatId === undefined) return undefined;
  return `${ctx.callbackQuery ? "button" : "message"}:${chatId}`;
}


import { Composer, type Context } from "grammy";
import { toAppError } from "../../errors.ts";
import type { IntakeDeps, IntakeOutcome } from "../../intake/intake.ts";
import { type TorrentInput, type TorrentRequest, enqueueTorrent } from "../../intake/torrent-intake.ts";
import { parseUrlList } from "../../intake/url-input.ts";
import type { Logger } from "../../logger.ts";
import { MAX_TORRENT_FILE_BYTES } from "../../sources/torrent/torrent-meta.ts";
import { escapeHtml, excerpt, formatBytes, truncate } from "../../text/format.ts";
import { replyTo } from "../create-bot.ts";
import type { TelegramFileFetcher } from "../telegram-file-fetcher.ts";
import { describeOutcome, joinReply } from "../views/intake-view.ts";

export const TORRENT_USAGE =
  "Send <code>/torrent magnet:?xt=urn:btih:…</code> or <code>/torrent https://example.com/file.torrent</code>, or send a .torrent file to this chat.";

export interface TorrentFeatureDeps {
  intake: IntakeDeps;
  fetchFile: TelegramFileFetcher;
  logger: Logger;
}

/** Whether a document looks like a .torrent file (by name or type). */
export function isTorrentDocument(doc: { file_name?: string; mime_type?: string }): boolean {
  return /\.torrent$/i.test(doc.file_name ?? "") || /^application\/x-bittorrent\b/i.test(doc.mime_type ?? "");
}

/**
 * Routes what /download gets that is a torrent: magnet links, and links whose path ends in
 * .torrent. Returns the reply line, or null for anything else (a .torrent served under another
 * name is found by the direct handler, which hands it over). For `downloadFeature`'s `routeSpecial`.
 */
export function torrentRouter(intake: IntakeDeps): (ctx: Context, url: string) => Promise<string | null> {
  return async (ctx, url) => {
    const input = torrentInputOf(url);
    if (!input || (input.kind === "url" && !/\.torrent$/i.test(new URL(url).pathname))) return null;
    const outcome = await enqueueTorrent(intake, requestOf(ctx), input);
    return describeOutcome(outcome, url);
  };
}

function torrentInputOf(token: string): TorrentInput | null {
  if (/^magnet:\?/i.test(token)) return { kind: "magnet", uri: token };
  if (/^https?:\/\//i.test(token)) return { kind: "url", url: token };
  return null;
}

function requestOf(ctx: Context): TorrentRequest {
  return { chatId: ctx.chat!.id, userId: ctx.from?.id ?? null, requestMessageId: ctx.msg?.message_id ?? null };
}

/** `/torrent <magnet or .torrent URL>`, and .torrent files sent to the chat (with or without the command). */
export function torrentFeature(deps: TorrentFeatureDeps): Composer<Context> {
  const composer = new Composer<Context>();

  const reply = async (ctx: Context, lines: string[]) => {
    await ctx.reply(joinReply(lines), replyTo(ctx.msg?.message_id));
  };

  // Registered before the command: a document captioned "/torrent" is handled here.
  composer.on("message:document", async (ctx, next) => {
    const doc = ctx.msg.document;
    const command = /^\/torrent(?:@(\w+))?(?:\s|$)/i.exec(ctx.msg.caption ?? "");
    const forUs = command !== null && (!command[1] || command[1].toLowerCase() === ctx.me.username.toLowerCase());
    if (!isTorrentDocument(doc)) {
      if (!forUs) return next();
      await reply(ctx, [`${excerpt(doc.file_name ?? "that file", 80)} is not a .torrent file.`, TORRENT_USAGE]);
      return;
    }
    const name = doc.file_name ?? "file.torrent";
    if (doc.file_size !== undefined && doc.file_size > MAX_TORRENT_FILE_BYTES) {
      await reply(ctx, [`✗ ${escapeHtml(truncate(name, 80))}: ${formatBytes(doc.file_size)} is too much for a .torrent file.`]);
      return;
    }
    const request = requestOf(ctx);
    let outcome: IntakeOutcome;
    try {
      const bytes = await deps.fetchFile(doc.file_id);
      outcome = await enqueueTorrent(deps.intake, request, { kind: "file", bytes });
    } catch (thrown) {
      const error = toAppError(thrown);
      deps.logger.warn({ code: error.code, err: error.message }, "could not queue a .torrent file");
      outcome = { status: "refused", error };
    }
    await reply(ctx, [describeOutcome(outcome, name)]);
  });

  composer.command("torrent", async (ctx) => {
    const parsed = parseUrlList(ctx.match, { allowMagnet: true });
    if (parsed.urls.length === 0) {
      const why = parsed.problems.length ? parsed.problems : ["No magnet link or .torrent URL given."];
      await reply(ctx, [...why, TORRENT_USAGE]);
      return;
    }
    const request = requestOf(ctx);
    const lines = [...parsed.problems];
    for (const token of parsed.urls) {
      const input = torrentInputOf(token)!;
      const outcome = await enqueueTorrent(deps.intake, request, input);
      lines.push(describeOutcome(outcome, token));
    }
    if (parsed.problems.length) lines.push(TORRENT_USAGE);
    await reply(ctx, lines);
  });

  return composer;
}

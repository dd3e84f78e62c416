import { Composer, type Context } from "grammy";
import { parseUrlList } from "../../intake/url-input.ts";
import { MAX_TORRENT_FILE_BYTES } from "../../sources/torrent/torrent-meta.ts";
import { escapeHtml, excerpt, formatBytes, truncate } from "../../text/format.ts";
import { replyTo } from "../create-bot.ts";
import type { RequestAnswers } from "../request-answers.ts";
import { joinReply } from "../views/intake-view.ts";

export const TORRENT_USAGE =
  "Send <code>/torrent magnet:?xt=urn:btih:…</code> or <code>/torrent https://example.com/file.torrent</code> (add <code>all</code> to take every file without being asked), or send a .torrent file to this chat.";

export interface TorrentFeatureDeps {
  /** Stores what the message asks for and answers it (see `request-answers.ts`). */
  answers: RequestAnswers;
  /** Largest .torrent document taken (a local Bot API server hands out more than a link's cap). */
  maxTorrentBytes?: number;
}

/** Whether a document looks like a .torrent file (by name or type). */
export function isTorrentDocument(doc: { file_name?: string; mime_type?: string }): boolean {
  return /\.torrent$/i.test(doc.file_name ?? "") || /^application\/x-bittorrent\b/i.test(doc.mime_type ?? "");
}

function ask(ctx: Context & { chat: NonNullable<Context["chat"]>; msg: NonNullable<Context["msg"]> }) {
  return { chatId: ctx.chat.id, userId: ctx.from?.id ?? null, requestMessageId: ctx.msg.message_id };
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
    // In a group, a file is for the bot only with the command, or as a reply to the bot.
    const addressed = forUs || ctx.chat.type === "private" || ctx.msg.reply_to_message?.from?.id === ctx.me.id;
    if (!addressed) return;
    if (!isTorrentDocument(doc)) {
      if (!forUs) return next();
      await reply(ctx, [`${excerpt(doc.file_name ?? "that file", 80)} is not a .torrent file.`, TORRENT_USAGE]);
      return;
    }
    const name = doc.file_name ?? "file.torrent";
    if (doc.file_size !== undefined && doc.file_size > (deps.maxTorrentBytes ?? MAX_TORRENT_FILE_BYTES)) {
      await reply(ctx, [`✗ ${escapeHtml(truncate(name, 80))}: ${formatBytes(doc.file_size)} is too much for a .torrent file.`]);
      return;
    }
    await deps.answers.ask([{ request: { kind: "document", text: doc.file_id, fresh: false }, label: name }], ask(ctx));
  });

  composer.command("torrent", async (ctx) => {
    // "/torrent <link> all": every file that fits, without asking which.
    const all = /(^|\s)all\s*$/i.test(ctx.match);
    const parsed = parseUrlList(all ? ctx.match.replace(/(^|\s)all\s*$/i, "") : ctx.match, { allowMagnet: true });
    if (parsed.urls.length === 0) {
      const why = parsed.problems.length ? parsed.problems : ["No magnet link or .torrent URL given."];
      await reply(ctx, [...why, TORRENT_USAGE]);
      return;
    }
    await deps.answers.ask(
      parsed.urls.map((token) => ({ request: { kind: "torrent", text: token, fresh: false, ...(all ? { wants: { allFiles: true } } : {}) }, label: token })),
      { ...ask(ctx), problems: parsed.problems, usage: TORRENT_USAGE },
    );
  });

  return composer;
}

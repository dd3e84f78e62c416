import { Composer, type Context } from "grammy";
import type { Message } from "grammy/types";
import type { Wants } from "../../items/item.ts";
import { type QualityCap, withCap } from "../../chats/chat-settings.ts";
import { parseUrlList } from "../../intake/url-input.ts";
import type { RequestAnswers } from "../request-answers.ts";
import { joinReply } from "../views/intake-view.ts";

export interface DownloadFeatureDeps {
  /** Stores what the message asks for and answers it (see `request-answers.ts`). */
  answers: RequestAnswers;
  /** Whether ffmpeg is there to take the audio out of a video (`/audio`); default true. */
  audio?: boolean;
  /** The chat's quality cap (`/settings`), applied to what it asks for; default: none. */
  qualityCap?: (chatId: number) => Promise<QualityCap>;
}

export const DOWNLOAD_USAGE =
  "Send <code>/download https://example.com/file.zip</code> — one or more http(s) links, separated by spaces or new lines.";

export const AUDIO_USAGE = "Send <code>/audio https://example.com/video.mp4</code> — the link of a video (a file, a stream or a video site's page); you get its sound as an audio file.";

export const AUDIO_NEEDS_FFMPEG = "/audio needs ffmpeg, which this bot does not have; /download sends the file as it is.";

/** `/download! <url>`: a fresh download even of a URL delivered before (not a command to grammY: "!"). */
export const FRESH_DOWNLOAD = /^\/download!(?:@(\w+))?(?:\s+([\s\S]*))?$/;

export function downloadFeature(deps: DownloadFeatureDeps): Composer<Context> {
  const composer = new Composer<Context>();
  // Before the command: Telegram marks "/download" in "/download! url" as the command.
  composer.hears(FRESH_DOWNLOAD, async (ctx, next) => {
    const target = ctx.match[1];
    if (target && target.toLowerCase() !== ctx.me.username.toLowerCase()) return next();
    await handleDownload(ctx, ctx.match[2] ?? "", true);
  });
  composer.command("download", (ctx) => handleDownload(ctx, ctx.match, false));
  // The same links, checks and answers as /download; the item delivers only the audio.
  composer.command("audio", async (ctx) => {
    if (deps.audio === false) return void (await ctx.reply(AUDIO_NEEDS_FFMPEG));
    await handleDownload(ctx, ctx.match, false, { audioOnly: true });
  });

  async function handleDownload(ctx: Context & { chat: NonNullable<Context["chat"]>; msg: Message }, text: string, fresh: boolean, wants: Wants = {}) {
    const parsed = parseUrlList(text, { allowMagnet: true });
    if (parsed.urls.length === 0) {
      // One line each, so that a message full of junk is cut by lines, not dropped as one block.
      const why = parsed.problems.length ? parsed.problems : ["No link given."];
      await ctx.reply(joinReply([...why, wants.audioOnly ? AUDIO_USAGE : DOWNLOAD_USAGE]));
      return;
    }
    // The chat's quality cap goes with what it asks for: a height, or only the audio.
    if (deps.qualityCap) wants = withCap(wants, await deps.qualityCap(ctx.chat.id), deps.audio !== false);
    await deps.answers.ask(
      parsed.urls.map((url) => ({ request: { kind: "link", text: url, fresh, wants }, label: url })),
      { chatId: ctx.chat.id, userId: ctx.from?.id ?? null, requestMessageId: ctx.msg.message_id, problems: parsed.problems },
    );
  }
  return composer;
}

import { Composer, type Context } from "grammy";

export const HELP_TEXT = [
  "<b>Download bot</b>: send a link, get the file in this chat.",
  "",
  "/download &lt;url&gt; — download a file (or the media on a web page) and send it here. Several links, separated by spaces or new lines, are queued in order.",
  "/torrent &lt;magnet or .torrent URL&gt; — download a torrent (each of its files arrives as its own document); you can also send a .torrent file, or give /download a magnet link.",
  "/download! &lt;url&gt; — download again a link that was delivered before (otherwise the bot re-sends the file it already has).",
  "/audio &lt;url&gt; — only the sound of a video (a file, a stream or a video site's page), as an audio file with its title and cover: copied as it is when it is AAC or MP3, else converted to MP3.",
  "",
  "/queue — what is downloading and waiting · /status — counts, free disk · /history — the last finished downloads",
  "/cancel 12 · /retry 12 — cancel a download, or queue a failed or cancelled one again (or reply /cancel, /retry to a message about it)",
  "/pause · /resume — in the admin chat, stop and continue the whole queue; in any other chat, only that chat's own downloads (the running one included), never another chat's. /pause 12, /resume 12 for one download. Under a download's live message, ⏸ pauses that download only; while the whole queue is paused, its button in the admin chat resumes the queue.",
  "/priority 12 high|normal|low — higher priority downloads start first",
  "/settings — this chat's settings, each a button that moves to its next choice: whether to ask before downloading (a torrent's files, a video's quality, a page's videos), the quality of a video, videos and audio playable or as files, and big files in playable parts or byte parts.",
  "/watch &lt;url&gt; [every 2h] [match words or /regex/] [exclude …] [last 3] — new entries of an RSS or Atom feed (a podcast's episodes), a playlist or channel yt-dlp lists, or a page of files arrive by themselves: checked every hour (15 minutes at least; a cron expression works too), each entry queued once, oldest first. Only what comes from now on, unless last n asks for the newest n. /watch of the same link again changes it.",
  "/watches — what this chat watches · /check 3 — check one now · /unwatch 3 — stop watching",
  "/help — this text.",
  "",
  "Items are downloaded one at a time, highest priority first, then oldest first. A live message shows the progress with Pause and Cancel buttons; failed downloads are retried after 0 s, 2 min and 8 min.",
].join("\n");

export function helpFeature(helpText: () => string = () => HELP_TEXT): Composer<Context> {
  const composer = new Composer<Context>();
  composer.command(["start", "help"], (ctx) =>
    ctx.reply(helpText()),
  );
  return composer;
}

import { Composer, type Context } from "grammy";

export const HELP_TEXT = [
  "<b>Download bot</b>: send a link, get the file in this chat.",
  "",
  "/download &lt;url&gt; — download a file (or the media on a web page) and send it here. Several links, separated by spaces or new lines, are queued in order.",
  "/torrent &lt;magnet or .torrent URL&gt; — download a torrent; you can also send a .torrent file.",
  "/help — this text.",
  "",
  "Items are downloaded one at a time, oldest first. A live message shows the progress; failed downloads are retried after 0 s, 2 min and 8 min.",
].join("\n");

export function helpFeature(helpText: () => string = () => HELP_TEXT): Composer<Context> {
  const composer = new Composer<Context>();
  composer.command(["start", "help"], (ctx) =>
    ctx.reply(helpText(), { parse_mode: "HTML", link_preview_options: { is_disabled: true } }),
  );
  return composer;
}

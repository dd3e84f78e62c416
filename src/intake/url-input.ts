import { excerpt } from "../text/format.ts";

export const MAX_URL_LENGTH = 2048;

export interface ParsedInput {
  urls: string[];
  /** One line each, already HTML-escaped, saying what was wrong with a token. */
  problems: string[];
}

/**
 * Splits a command's argument into URLs (spaces or new lines between them) and says what is wrong
 * with anything that is not an http(s) URL. Pure. Magnet links are accepted when `allowMagnet`.
 */
export function parseUrlList(text: string, options: { allowMagnet?: boolean } = {}): ParsedInput {
  const urls: string[] = [];
  const problems: string[] = [];
  for (const token of text.split(/\s+/).filter(Boolean)) {
    // Magnets with many trackers run long; a Telegram message (4096 characters) bounds them anyway.
    if (options.allowMagnet && /^magnet:\?/i.test(token)) {
      if (!urls.includes(token)) urls.push(token);
      continue;
    }
    if (token.length > MAX_URL_LENGTH) {
      problems.push(`${excerpt(token, 40)}: too long (over ${MAX_URL_LENGTH} characters).`);
      continue;
    }
    let url: URL;
    try {
      url = new URL(token);
    } catch {
      problems.push(`${excerpt(token, 60)}: not a valid URL (it should start with http:// or https://).`);
      continue;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      problems.push(`${excerpt(token, 60)}: only http and https links can be downloaded, not ${excerpt(url.protocol.replace(/:$/, ""), 20)}.`);
      continue;
    }
    if (!url.hostname) {
      problems.push(`${excerpt(token, 60)}: the URL has no host.`);
      continue;
    }
    url.hash = "";
    const normal = url.toString();
    if (!urls.includes(normal)) urls.push(normal);
  }
  return { urls, problems };
}

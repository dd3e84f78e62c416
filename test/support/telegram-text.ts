/**
 * Telegram's text rules, as the Bot API applies them to `text` and `caption`:
 * parse_mode "HTML" (a port of the behaviour of tdlib's parse_html, including its error
 * messages and byte offsets), trimming, length in characters, and the entities the server adds
 * by itself (bot commands and URLs, which grammY's `bot.command()` and `::url` filters need).
 *
 * Offsets of entities are in UTF-16 code units, as in the Bot API.
 */
import type { MessageEntity } from "grammy/types";

/** A Bot API "400 Bad Request" with a description. */
export class TextError extends Error {}

export interface FormattedText {
  text: string;
  entities: MessageEntity[];
}

const HTML_TAGS = new Set([
  "a",
  "b",
  "strong",
  "i",
  "em",
  "s",
  "strike",
  "del",
  "u",
  "ins",
  "tg-spoiler",
  "tg-emoji",
  "span",
  "pre",
  "code",
  "blockquote",
]);

// tdlib's is_space: the terminating NUL counts, which is how "end of text" stops the scans.
const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0;
const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/**
 * Decodes an HTML entity at `pos`. Only &lt; &gt; &amp; &quot; and numeric entities exist for
 * Telegram, the ';' is optional, and anything else is NOT an error: the '&' stays literal.
 */
function decodeEntity(b: Buffer, pos: number): { code: number; end: number } | undefined {
  const at = (i: number): number => (i < b.length ? (b[i] as number) : 0);
  let end = pos + 1;
  let code = 0;
  if (at(pos + 1) === 0x23) {
    end++;
    if (at(pos + 2) === 0x78) {
      end++;
      while (isHex(at(end))) code = code * 16 + parseInt(String.fromCharCode(at(end++)), 16);
    } else {
      while (isDigit(at(end))) code = code * 10 + (at(end++) - 0x30);
    }
    if (code === 0 || code >= 0x10ffff || end - pos >= 10) return undefined;
  } else {
    while (isAlpha(at(end))) end++;
    const name = b.subarray(pos + 1, end).toString("latin1");
    const named: Record<string, number> = { lt: 0x3c, gt: 0x3e, amp: 0x26, quot: 0x22 };
    const c = named[name];
    if (c === undefined) return undefined;
    code = c;
  }
  if (at(end) === 0x3b) end++;
  return { code, end };
}

const parseError = (msg: string): TextError => new TextError(`Bad Request: can't parse entities: ${msg}`);

/** Parses Telegram HTML. Throws TextError with Telegram's description on malformed input. */
export function parseHtml(html: string): FormattedText {
  const b = Buffer.from(html, "utf8");
  const at = (i: number): number => (i < b.length ? (b[i] as number) : 0);
  const out: number[] = []; // UTF-8 bytes of the plain text
  const entities: MessageEntity[] = [];
  const nested: { tag: string; arg: string; offset: number; outPos: number }[] = [];
  // Languages of <code class="language-x"> entities, until an enclosing <pre> claims them.
  const codeLanguage = new Map<MessageEntity, string>();
  let utf16 = 0;
  const pushByte = (c: number): void => {
    out.push(c);
    // Count UTF-16 units on lead bytes; a 4-byte sequence is a surrogate pair.
    if ((c & 0xc0) !== 0x80) utf16 += c >= 0xf0 ? 2 : 1;
  };

  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    if (c === 0x26) {
      const ent = decodeEntity(b, i);
      if (ent) {
        if (ent.code >= 0xd800 && ent.code <= 0xdfff) {
          throw parseError(
            "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched surrogate code units",
          );
        }
        for (const byte of Buffer.from(String.fromCodePoint(ent.code), "utf8")) pushByte(byte);
        i = ent.end;
        continue;
      }
    }
    if (c !== 0x3c) {
      pushByte(c);
      i++;
      continue;
    }

    const begin = i++;
    if (at(i) !== 0x2f) {
      // Start tag.
      while (!isSpace(at(i)) && at(i) !== 0x3e) i++;
      if (i >= b.length) throw parseError(`Unclosed start tag at byte offset ${begin}`);
      const tag = b.subarray(begin + 1, i).toString("utf8").toLowerCase();
      if (!HTML_TAGS.has(tag)) throw parseError(`Unsupported start tag "${tag}" at byte offset ${begin}`);

      let arg = "";
      while (at(i) !== 0x3e) {
        while (i < b.length && isSpace(at(i))) i++;
        if (at(i) === 0x3e) break;
        const attrBegin = i;
        while (!isSpace(at(i)) && at(i) !== 0x3d && at(i) !== 0x3e) i++;
        const attr = b.subarray(attrBegin, i).toString("utf8");
        if (attr === "") throw parseError(`Empty attribute name in the tag "${tag}" at byte offset ${begin}`);
        while (i < b.length && isSpace(at(i))) i++;
        if (at(i) !== 0x3d) {
          if (tag === "blockquote" && attr === "expandable") {
            arg = "expandable";
            continue;
          }
          if (i >= b.length) throw parseError(`Unclosed start tag "${tag}" at byte offset ${begin}`);
          throw parseError(`Expected equal sign in declaration of an attribute of the tag "${tag}" at byte offset ${begin}`);
        }
        i++;
        while (i < b.length && isSpace(at(i))) i++;
        if (i >= b.length) throw parseError(`Unclosed start tag "${tag}" at byte offset ${begin}`);

        let value: string;
        const q = at(i);
        if (q !== 0x27 && q !== 0x22) {
          const tokBegin = i;
          while (isAlpha(at(i)) || isDigit(at(i)) || at(i) === 0x2e || at(i) === 0x2d) i++;
          value = b.subarray(tokBegin, i).toString("utf8").toLowerCase();
          if (!isSpace(at(i)) && at(i) !== 0x3e) throw parseError(`Unexpected end of name token at byte offset ${tokBegin}`);
        } else {
          i++;
          const bytes: number[] = [];
          while (i < b.length && at(i) !== q) {
            if (at(i) === 0x26) {
              const ent = decodeEntity(b, i);
              if (ent) {
                bytes.push(...Buffer.from(String.fromCodePoint(ent.code), "utf8"));
                i = ent.end;
                continue;
              }
            }
            bytes.push(at(i++));
          }
          if (at(i) === q) i++;
          value = Buffer.from(bytes).toString("utf8");
        }
        if (i >= b.length) throw parseError(`Unclosed start tag at byte offset ${begin}`);

        if (tag === "a" && attr === "href") arg = value;
        else if (tag === "code" && attr === "class" && value.startsWith("language-")) arg = value.slice(9);
        else if (tag === "span" && attr === "class" && value.startsWith("tg-")) arg = value.slice(3);
        else if (tag === "tg-emoji" && attr === "emoji-id") arg = value;
      }
      if (tag === "span" && arg !== "spoiler") {
        throw parseError(`Tag "span" must have class "tg-spoiler" at byte offset ${begin}`);
      }
      nested.push({ tag, arg, offset: utf16, outPos: out.length });
      i++; // '>'
      continue;
    }

    // End tag.
    if (nested.length === 0) throw parseError(`Unexpected end tag at byte offset ${begin}`);
    while (!isSpace(at(i)) && at(i) !== 0x3e) i++;
    const endTag = b.subarray(begin + 2, i).toString("utf8").toLowerCase();
    while (i < b.length && isSpace(at(i))) i++;
    if (at(i) !== 0x3e) throw parseError(`Unclosed end tag at byte offset ${begin}`);
    const open = nested.pop() as (typeof nested)[number];
    if (endTag !== "" && endTag !== open.tag) {
      throw parseError(`Unmatched end tag at byte offset ${begin}, expected "</${open.tag}>", found "</${endTag}>"`);
    }
    i++; // '>'
    const length = utf16 - open.offset;
    if (length > 0) {
      const inner = Buffer.from(out.slice(open.outPos)).toString("utf8");
      const entity = entityFor(open.tag, open.arg, open.offset, length, inner, entities, codeLanguage);
      if (entity) entities.push(entity);
    }
  }
  const unclosed = nested[nested.length - 1];
  if (unclosed) throw parseError(`Can't find end tag corresponding to start tag "${unclosed.tag}"`);

  return { text: Buffer.from(out).toString("utf8"), entities: sortEntities(entities) };
}

function entityFor(
  tag: string,
  arg: string,
  offset: number,
  length: number,
  inner: string,
  entities: MessageEntity[],
  codeLanguage: Map<MessageEntity, string>,
): MessageEntity | undefined {
  switch (tag) {
    case "b":
    case "strong":
      return { type: "bold", offset, length };
    case "i":
    case "em":
      return { type: "italic", offset, length };
    case "u":
    case "ins":
      return { type: "underline", offset, length };
    case "s":
    case "strike":
    case "del":
      return { type: "strikethrough", offset, length };
    case "tg-spoiler":
    case "span":
      return { type: "spoiler", offset, length };
    case "tg-emoji":
      return { type: "custom_emoji", offset, length, custom_emoji_id: arg };
    case "blockquote":
      return { type: arg === "expandable" ? "expandable_blockquote" : "blockquote", offset, length };
    case "a": {
      const url = normaliseLink(arg !== "" ? arg : inner);
      return url === undefined ? undefined : { type: "text_link", offset, length, url };
    }
    case "pre": {
      // <pre><code class="language-x">…</code></pre> is one pre entity with a language.
      const last = entities[entities.length - 1];
      const language = last && last.type === "code" ? codeLanguage.get(last) : undefined;
      if (last && language !== undefined && last.offset === offset && last.length === length) {
        entities.pop();
        return { type: "pre", offset, length, language };
      }
      return arg !== "" ? { type: "pre", offset, length, language: arg } : { type: "pre", offset, length };
    }
    case "code": {
      const last = entities[entities.length - 1];
      if (last && last.type === "pre" && last.offset === offset && last.length === length && arg !== "") {
        entities.pop();
        return { type: "pre", offset, length, language: arg };
      }
      const code: MessageEntity = { type: "code", offset, length };
      if (arg !== "") codeLanguage.set(code, arg);
      return code;
    }
    default:
      return undefined;
  }
}

/** Like tdlib's check_link: http(s)/tg/ton links, or a bare domain (which gets "http://"); else no entity. */
function normaliseLink(raw: string): string | undefined {
  const s = raw.trim();
  if (s === "") return undefined;
  if (/^(tg|ton):\/\//i.test(s)) return s;
  try {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `http://${s}`);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    if (!url.hostname.includes(".") && url.hostname !== "localhost") return undefined;
    return url.href;
  } catch {
    return undefined;
  }
}

/** tdlib's order: by offset, longer first, then by type priority (outer formatting first). */
const PRIORITY: Record<string, number> = {
  blockquote: 0,
  expandable_blockquote: 0,
  pre: 11,
  code: 20,
  text_link: 49,
  text_mention: 49,
  bold: 90,
  italic: 91,
  underline: 92,
  strikethrough: 93,
  spoiler: 94,
  custom_emoji: 99,
};

function sortEntities(entities: MessageEntity[]): MessageEntity[] {
  return [...entities].sort(
    (a, b) => a.offset - b.offset || b.length - a.length || (PRIORITY[a.type] ?? 50) - (PRIORITY[b.type] ?? 50),
  );
}

/** Characters as Telegram counts them for the 4096/1024 limits: Unicode code points. */
export function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * Strips leading/trailing whitespace like the server does, moving entities with the text and
 * dropping the ones that end up empty.
 */
export function trimFormatted(ft: FormattedText): FormattedText {
  let start = 0;
  let end = ft.text.length;
  while (start < end && ft.text.charCodeAt(start) <= 0x20) start++;
  while (end > start && ft.text.charCodeAt(end - 1) <= 0x20) end--;
  if (start === 0 && end === ft.text.length) return ft;
  const entities: MessageEntity[] = [];
  for (const e of ft.entities) {
    const from = Math.max(e.offset, start);
    const to = Math.min(e.offset + e.length, end);
    if (to > from) entities.push({ ...e, offset: from - start, length: to - from });
  }
  return { text: ft.text.slice(start, end), entities };
}

/**
 * The entities Telegram detects by itself in any message: bot commands and URLs. Explicit
 * entities win; detected ones that overlap code, pre or links are skipped.
 */
export function withDetectedEntities(text: string, explicit: MessageEntity[]): MessageEntity[] {
  const blocked = explicit.filter((e) => e.type === "code" || e.type === "pre" || e.type === "text_link");
  const overlaps = (o: number, l: number): boolean => blocked.some((e) => o < e.offset + e.length && e.offset < o + l);
  const found: MessageEntity[] = [];

  // "/cmd" or "/cmd@bot_name", not glued to a preceding word or slash.
  const command = /(?<![\p{L}\p{N}_/<>])\/[a-zA-Z0-9_]{1,64}(?:@[a-zA-Z0-9_]{3,32})?(?![\p{L}\p{N}_/<>])/gu;
  for (const m of text.matchAll(command)) {
    if (!overlaps(m.index, m[0].length)) found.push({ type: "bot_command", offset: m.index, length: m[0].length });
  }
  // Explicit http(s) URLs and www. hosts; trailing punctuation belongs to the sentence.
  const url = /\b(?:https?:\/\/|www\.)[^\s<>"]+/giu;
  for (const m of text.matchAll(url)) {
    let s = m[0];
    while (/[.,;:!?'")\]}]$/.test(s)) {
      const last = s[s.length - 1];
      if ((last === ")" && balanced(s, "(", ")")) || (last === "]" && balanced(s, "[", "]"))) break;
      s = s.slice(0, -1);
    }
    if (s.length > 0 && !overlaps(m.index, s.length)) found.push({ type: "url", offset: m.index, length: s.length });
  }
  return sortEntities([...explicit, ...found]);
}

function balanced(s: string, open: string, close: string): boolean {
  let n = 0;
  for (const ch of s) n += ch === open ? 1 : ch === close ? -1 : 0;
  return n === 0;
}

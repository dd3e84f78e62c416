/**
 * Reads the literal a script hands to a call (a player's `setup({...})`) without running
 * anything: objects, arrays, strings, numbers, true, false and null, as JSON would give them,
 * with what JavaScript adds (unquoted and single-quoted keys, trailing commas, comments, `\/`).
 * Whatever is not a literal (a variable, a function, a call, a template with substitutions) reads
 * as `undefined` and is stepped over, so `{ file: "/a.mp4", events: { onReady() { go(); } } }`
 * still gives its file. A tokenizer, not a regular expression over the text. Pure.
 */

/** Deeper nesting than this reads as undefined: no setup is that deep, and recursion stays bounded. */
const MAX_DEPTH = 24;

const IDENTIFIER_START = /[A-Za-z_$]/;
const IDENTIFIER_PART = /[\w$]/;
const NUMBER = /^-?(?:0[xX][\da-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/;
const CLOSERS: Record<string, string> = { "(": ")", "[": "]", "{": "}" };

/**
 * The literal that starts at `start` (after any spaces and comments), and where it ends; null when
 * the text there is not one (a variable, say).
 *
 * @example
 * readLiteral(`jwplayer("p").setup({ file: 'a.mp4', }); go()`, 20)
 * // → { value: { file: "a.mp4" }, end: 38 }
 */
export function readLiteral(text: string, start: number): { value: unknown; end: number } | null {
  const reader = new LiteralReader(text, start);
  const value = reader.value(0);
  return value === undefined ? null : { value, end: reader.at };
}

class LiteralReader {
  private readonly text: string;
  /** Where the reader is in `text`. */
  at: number;

  constructor(text: string, start: number) {
    this.text = text;
    this.at = start;
  }

  /** A value, or undefined (stepped over) when it is not a literal. */
  value(depth: number): unknown {
    const value = this.term(depth);
    if (value === undefined) return undefined;
    // `"/v/" + id + ".mp4"`: a literal that only starts an expression is not its value.
    this.space();
    return this.atEndOfValue() ? value : this.skipExpression();
  }

  private term(depth: number): unknown {
    this.space();
    const c = this.text[this.at];
    if (c === undefined) return undefined;
    if (depth > MAX_DEPTH) return this.skipExpression();
    if (c === "{") return this.object(depth);
    if (c === "[") return this.array(depth);
    if (c === '"' || c === "'") return this.string(c);
    if (c === "`") return this.template();
    const number = NUMBER.exec(this.text.slice(this.at, this.at + 64));
    if (number && !IDENTIFIER_PART.test(this.text[this.at + number[0].length] ?? "")) {
      this.at += number[0].length;
      return Number(number[0]);
    }
    for (const [word, value] of [["true", true], ["false", false], ["null", null]] as const) {
      if (this.text.startsWith(word, this.at) && !IDENTIFIER_PART.test(this.text[this.at + word.length] ?? "")) {
        this.at += word.length;
        return value;
      }
    }
    return this.skipExpression();
  }

  private object(depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.at++; // {
    for (;;) {
      this.space();
      const c = this.text[this.at];
      if (c === undefined) return out;
      if (c === "}") {
        this.at++;
        return out;
      }
      // Not closed where it should be: what is read so far.
      if (c === "]" || c === ")" || c === ";") return out;
      if (c === ",") {
        this.at++;
        continue;
      }
      const key = this.key();
      this.space();
      if (key !== undefined && this.text[this.at] === ":") {
        this.at++;
        const value = this.value(depth + 1);
        // Not a plain property bag: no prototype games with "__proto__" from a page.
        if (value !== undefined && key !== "__proto__") out[key] = value;
      }
      // A method, a spread, a computed key, or the rest of an expression: stepped over.
      this.skipExpression();
    }
  }

  private array(depth: number): unknown[] {
    const out: unknown[] = [];
    this.at++; // [
    for (;;) {
      this.space();
      const c = this.text[this.at];
      if (c === undefined) return out;
      if (c === "]") {
        this.at++;
        return out;
      }
      if (c === "}" || c === ")" || c === ";") return out;
      if (c === ",") {
        this.at++;
        continue;
      }
      out.push(this.value(depth + 1));
      this.skipExpression();
    }
  }

  /** A property name: an identifier, a string or a number; undefined for anything else. */
  private key(): string | undefined {
    const c = this.text[this.at] ?? "";
    if (c === '"' || c === "'") return this.string(c);
    if (IDENTIFIER_START.test(c) || /\d/.test(c)) {
      const from = this.at;
      while (IDENTIFIER_PART.test(this.text[this.at] ?? "")) this.at++;
      return this.text.slice(from, this.at);
    }
    return undefined;
  }

  private string(quote: string): string {
    let out = "";
    this.at++;
    while (this.at < this.text.length) {
      const c = this.text[this.at++]!;
      if (c === quote) return out;
      if (c === "\n") return out; // unterminated: the line ends it
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = this.text[this.at++] ?? "";
      if (e === "u" || e === "x") {
        const rest = this.text.slice(this.at, this.at + 8);
        const hex = e === "x" ? /^[\da-fA-F]{2}/.exec(rest) : /^(?:[\da-fA-F]{4}|\{[\da-fA-F]{1,6}\})/.exec(rest);
        const code = hex ? Number.parseInt(hex[0].replace(/[{}]/g, ""), 16) : NaN;
        if (hex) this.at += hex[0].length;
        out += code <= 0x10ffff ? String.fromCodePoint(code) : hex ? "" : e;
        continue;
      }
      if (e === "\r" && this.text[this.at] === "\n") this.at++;
      out += ({ n: "\n", t: "\t", r: "\r", b: "\b", f: "\f", v: "\v", "0": "\0", "\n": "", "\r": "" } as Record<string, string>)[e] ?? e;
    }
    return out;
  }

  /** A template without substitutions is a string; one with them is an expression. */
  private template(): string | undefined {
    const from = this.at;
    this.skipQuoted("`");
    const body = this.text.slice(from + 1, this.at - 1);
    return body.includes("${") || body.includes("\\") ? undefined : body;
  }

  /** Whether the next character ends the value (so it was a literal, not the start of an expression). */
  private atEndOfValue(): boolean {
    const c = this.text[this.at];
    return c === undefined || c === "," || c === "}" || c === "]" || c === ")" || c === ";";
  }

  /**
   * Steps over what is left of the current value: up to the next `,` `}` `]` or `)` outside
   * brackets, strings and comments. Always undefined.
   */
  private skipExpression(): undefined {
    const stack: string[] = [];
    while (this.at < this.text.length) {
      this.space();
      const c = this.text[this.at];
      if (c === undefined) break;
      if (stack.length === 0 && (c === "," || c === "}" || c === "]" || c === ")" || c === ";")) break;
      if (c === '"' || c === "'" || c === "`") {
        this.skipQuoted(c);
        continue;
      }
      if (c in CLOSERS) stack.push(CLOSERS[c]!);
      else if (c === stack[stack.length - 1]) stack.pop();
      this.at++;
    }
    return undefined;
  }

  private skipQuoted(quote: string): void {
    this.at++;
    while (this.at < this.text.length) {
      const c = this.text[this.at++];
      if (c === "\\") this.at++;
      else if (c === quote) return;
    }
  }

  /** Spaces and comments. */
  private space(): void {
    for (;;) {
      while (/\s/.test(this.text[this.at] ?? "")) this.at++;
      if (this.text.startsWith("//", this.at)) {
        const end = this.text.indexOf("\n", this.at);
        this.at = end === -1 ? this.text.length : end + 1;
      } else if (this.text.startsWith("/*", this.at)) {
        const end = this.text.indexOf("*/", this.at + 2);
        this.at = end === -1 ? this.text.length : end + 2;
      } else return;
    }
  }
}

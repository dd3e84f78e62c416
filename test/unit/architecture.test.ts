import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { beforeAll, describe, expect, it } from "vitest";

/** The little of madge's API used here (the package ships no types). */
interface MadgeResult {
  /** Each file (relative to the folder read) with the files it imports. */
  obj(): Record<string, string[]>;
  circular(): string[][];
  warnings(): { skipped: string[] };
}
type Madge = (dir: string, config: { fileExtensions: string[]; tsConfig: string; baseDir: string }) => Promise<MadgeResult>;
const madge = createRequire(import.meta.url)("madge") as Madge;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Imports from `from` (a folder of src) that land in one of `forbidden`, as "a -> b". */
function importsInto(graph: Record<string, string[]>, from: string, forbidden: string[]): string[] {
  return Object.entries(graph)
    .filter(([file]) => file.startsWith(`${from}/`))
    .flatMap(([file, deps]) => deps.filter((dep) => forbidden.some((f) => dep.startsWith(`${f}/`))).map((dep) => `${file} -> ${dep}`));
}

describe("the import structure of src", () => {
  let result: MadgeResult;
  let graph: Record<string, string[]>;

  beforeAll(async () => {
    result = await madge(path.join(root, "src"), { fileExtensions: ["ts"], tsConfig: path.join(root, "tsconfig.json"), baseDir: path.join(root, "src") });
    graph = result.obj();
  });

  it("is read whole: every module of src, with the imports it makes", () => {
    // A graph madge failed to resolve would pass every check below without proving anything.
    expect(Object.keys(graph)).toEqual(expect.arrayContaining(["main.ts", "app.ts", "queue/worker.ts", "tools/run-tool.ts", "sources/direct-source.ts"]));
    expect(graph["app.ts"]).toEqual(expect.arrayContaining(["queue/worker.ts", "tools/ffmpeg.ts", "sources/direct-source.ts"]));
    expect(result.warnings().skipped.filter((name) => name.startsWith("."))).toEqual([]);
  });

  it("has no cycle", () => {
    expect(result.circular()).toEqual([]);
  });

  it("keeps the engine and the tools out of the Telegram side", () => {
    for (const folder of ["tools", "queue", "sources", "items"]) expect(importsInto(graph, folder, ["bot"])).toEqual([]);
  });

  it("keeps the tools on the ground floor: they import no source, no queue, no intake", () => {
    expect(importsInto(graph, "tools", ["sources", "queue", "bot", "intake"])).toEqual([]);
  });
});

/** Every .ts file below `dir`, relative to src. */
function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, "src", dir), { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".ts"))
    .map((name) => path.join(dir, name));
}

/** The text of every string and template literal in a file (not its comments, nor its regular expressions). */
function literals(file: string, text: string): string[] {
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateLiteralToken(node)) out.push(node.text);
    node.forEachChild(visit);
  };
  visit(ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true));
  return out;
}

/** Telegram's HTML tags (the chat side's markup), opening or closing. */
const HTML_TAG = /<\/?(?:b|i|u|s|a|em|strong|code|pre|blockquote|tg-spoiler|tg-emoji|span)(?:\s[^>]*)?>/i;

describe("the engine speaks data, not chat", () => {
  const engine = ["queue", "sources", "net", "tools"].flatMap(sourceFiles);

  it("reads the engine's files", () => {
    expect(engine).toEqual(expect.arrayContaining(["queue/outcomes.ts", "sources/torrent/torrent-files.ts", "net/http-client.ts", "tools/yt-dlp.ts"]));
  });

  it("makes no user-facing sentence: no userMessage, no said reason, no HTML tag in a string", () => {
    const found: string[] = [];
    for (const file of engine) {
      const text = readFileSync(path.join(root, "src", file), "utf8");
      if (text.includes("userMessage")) found.push(`${file}: userMessage`);
      if (/kind:\s*["'`]said["'`]/.test(text)) found.push(`${file}: a said reason`);
      for (const literal of literals(file, text)) if (HTML_TAG.test(literal)) found.push(`${file}: ${JSON.stringify(literal)}`);
    }
    expect(found).toEqual([]);
  });

  it("would see each marker (the check itself works)", () => {
    expect(literals("x.ts", 'const a = `<b>${name}</b>`; // <a href>\nconst b = /<i>/;')).toEqual(["<b>", "</b>"]);
    expect(["<b>", "</i>", '<a href="x">'].every((t) => HTML_TAG.test(t))).toBe(true);
    expect(["a <= b", "<video>", "a[href]"].some((t) => HTML_TAG.test(t))).toBe(false);
  });
});

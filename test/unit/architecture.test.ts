import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
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

import { describe, expect, it } from "vitest";
import { playerSetups } from "../../src/sources/page-scripts.ts";
import { readLiteral } from "../../src/sources/script-literal.ts";

/** The literal a script passes to its first `setup(`. */
const setupOf = (script: string) => readLiteral(script, script.indexOf("setup(") + 6);

describe("readLiteral (a script's literal, read and never run)", () => {
  it("reads JSON, and what JavaScript adds: bare and single-quoted keys, trailing commas, comments, escapes", () => {
    expect(setupOf(`p.setup({ file: 'a.mp4', }); go()`)).toEqual({ value: { file: "a.mp4" }, end: 26 });
    expect(setupOf(`p.setup({"a":[1,-2.5e1,true,false,null],"b":{"c":"\\/x\\u00e9\\x41\\u{1F600}"}})`)?.value).toEqual({
      a: [1, -25, true, false, null],
      b: { c: "/xéA😀" },
    });
    expect(setupOf(`p.setup({ /* c */ a: 1, // d\n b: \`t\` })`)?.value).toEqual({ a: 1, b: "t" });
  });

  it("steps over what is not a literal, keeping the rest", () => {
    const script = `p.setup({ file: "/v/" + id + ".mp4", f: () => { return "}"; }, m() { go("]"); }, async n() {}, [k]: 1, ...rest, t: \`a\${b}\`, v: x ? "a" : "b", ok: "yes" })`;
    expect(setupOf(script)?.value).toEqual({ ok: "yes" });
    expect(setupOf(`p.setup(config)`)).toBeNull();
    // Unclosed or malformed: what was read, and no endless loop.
    expect(setupOf(`p.setup({ a: [1, 2`)?.value).toEqual({ a: [1, 2] });
    expect(setupOf(`p.setup({ a: ] , b: 1 })`)?.value).toEqual({});
    expect(setupOf(`p.setup({ "__proto__": { "polluted": 1 }, a: 1 })`)?.value).toEqual({ a: 1 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("stays bounded on deep nesting", () => {
    const deep = `p.setup(${"[".repeat(5000)}${"]".repeat(5000)})`;
    expect(setupOf(deep)).not.toBeNull();
  });
});

describe("playerSetups (JW Player's setup)", () => {
  it("reads the file form, the sources form and the playlist form alike", () => {
    expect(playerSetups(`jwplayer("p").setup({ file: "/a.mp4", title: "A", image: "/a.jpg" })`)).toEqual([{ title: "A", sources: [{ url: "/a.mp4", type: "" }] }]);
    expect(playerSetups(`jwplayer("p").setup({ sources: [{ file: "/a.m3u8", type: "hls" }, { src: "/a.mp4", type: "video/mp4" }] })`)).toEqual([
      { title: null, sources: [{ url: "/a.m3u8", type: "video/hls" }, { url: "/a.mp4", type: "video/mp4" }] },
    ]);
    expect(playerSetups(`jwplayer("p").setup({ playlist: [{ title: "One", sources: [{ file: "/1.mp4" }] }, { file: "/2.mp4" }, { image: "/3.jpg" }] })`)).toEqual([
      { title: "One", sources: [{ url: "/1.mp4", type: "" }] },
      { title: null, sources: [{ url: "/2.mp4", type: "" }] },
    ]);
  });

  it("takes no poster, captions or feed for a video, and nothing from a setup given a variable", () => {
    expect(playerSetups(`jwplayer("p").setup({ file: "/poster.jpg", sources: [{ file: "/subs.vtt" }] })`)).toEqual([]);
    expect(playerSetups(`jwplayer("p").setup({ playlist: "https://cdn.example.com/feed.rss" })`)).toEqual([]);
    expect(playerSetups(`jwplayer("p").setup(options)`)).toEqual([]);
  });
});

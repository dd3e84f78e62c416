import { describe, expect, it } from "vitest";
import { captionField, fileCaption } from "../../src/bot/views/caption-view.ts";

const whole = { name: "a.bin", caption: null, partOf: null, partIndex: null, joinAs: null };

describe("file captions", () => {
  it("says which part a file is, and on a byte split's first part how to join them", () => {
    expect(fileCaption({ ...whole, name: "disk.img.001", partOf: 3, partIndex: 1, joinAs: "disk.img" })).toBe(
      'Part 1 of 3. Join the 3 parts with: cat "disk.img".0* > "disk.img" (on Windows, 7-Zip opens disk.img.001)',
    );
    expect(fileCaption({ ...whole, name: "disk.img.002", partOf: 3, partIndex: 2 })).toBe("Part 2 of 3");
  });

  it("keeps a file's own caption above the part line, and has none for a plain whole file", () => {
    expect(fileCaption({ ...whole, caption: "album/cd1/01.flac", partOf: 2, partIndex: 2 })).toBe("album/cd1/01.flac\nPart 2 of 2");
    expect(fileCaption({ ...whole, caption: "album/cd1/01.flac" })).toBe("album/cd1/01.flac");
    expect(fileCaption(whole)).toBeUndefined();
  });
});

describe("a send's caption field", () => {
  it("is the text cut to Telegram's 1024 characters, or absent", () => {
    expect(captionField("Part 2 of 3")).toEqual({ caption: "Part 2 of 3" });
    expect(captionField("x".repeat(2000)).caption).toHaveLength(1024);
    expect(captionField(undefined)).toEqual({});
    expect(captionField("")).toEqual({});
  });
});

import { beforeAll, describe, expect, it } from "vitest";
import { createSiteMatcher, findYtDlp, playlistEntries } from "../../src/media/yt-dlp.ts";

const ytDlp = findYtDlp(undefined);

describe("yt-dlp's site extractors", () => {
  beforeAll(() => {
    // These tests never skip: without yt-dlp they fail and say what to install.
    if (!ytDlp) throw new Error("yt-dlp is not installed: apt-get install yt-dlp (.ci/run does)");
  });

  it("sends a site yt-dlp has an extractor of its own for to yt-dlp first, and nothing else", async () => {
    const handles = createSiteMatcher(ytDlp!);
    // Asked offline, from yt-dlp's own list: nothing here reaches the network.
    expect(await handles("https://www.youtube.com/watch?v=dQw4w9WgXcQ")).toBe(true);
    expect(await handles("https://example.com/files/report.bin")).toBe(false);
    expect(await handles("http://127.0.0.1:8080/watch/x.html")).toBe(false);
    expect(await handles("not a url")).toBe(false);
  });
});

describe("playlistEntries", () => {
  it("takes a site's entry pages as pages and media found in a page as files, each once", () => {
    const page = "https://example.com/season";
    expect(
      playlistEntries(
        {
          _type: "playlist",
          entries: [
            { _type: "url", url: "https://www.youtube.com/watch?v=a" },
            { _type: "url", url: "https://www.youtube.com/watch?v=a" },
            { webpage_url: page, formats: [{ url: "https://cdn.example.com/low.mp4" }, { url: "https://cdn.example.com/high.mp4" }] },
            { _type: "url", url: "javascript:alert(1)" },
            null,
            { webpage_url: page },
          ],
        },
        page,
      ),
    ).toEqual([
      { url: "https://www.youtube.com/watch?v=a" },
      { url: "https://cdn.example.com/high.mp4", expectFile: true },
    ]);
  });
});

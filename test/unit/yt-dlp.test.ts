import { describe, expect, it } from "vitest";
import { createSiteMatcher, findYtDlp } from "../../src/media/yt-dlp.ts";

const ytDlp = findYtDlp(undefined);

describe.skipIf(!ytDlp)(`yt-dlp's site extractors${ytDlp ? "" : " (skipped: yt-dlp is not installed; .ci/run installs it)"}`, () => {
  it("sends a site yt-dlp has an extractor of its own for to yt-dlp first, and nothing else", async () => {
    const handles = createSiteMatcher(ytDlp!);
    // Asked offline, from yt-dlp's own list: nothing here reaches the network.
    expect(await handles("https://www.youtube.com/watch?v=dQw4w9WgXcQ")).toBe(true);
    expect(await handles("https://example.com/files/report.bin")).toBe(false);
    expect(await handles("http://127.0.0.1:8080/watch/x.html")).toBe(false);
    expect(await handles("not a url")).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { mediaName } from "../../src/sources/crawler-source.ts";
import { summarizeCrawl } from "../../src/bot/views/done-view.ts";
import { findPageMedia } from "../../src/sources/page-media.ts";
import { extensionOfUrl, resolveUrl } from "../../src/sources/page-urls.ts";

const PAGE = "https://example.com/shows/week/index.html";

describe("findPageMedia", () => {
  it("takes a single <video> as the main media and ignores decoy links", () => {
    const media = findPageMedia(
      `<!doctype html><html><head><title>  Sunset
        over the bay </title></head><body>
        <a href="/about">About</a> <a href="other.html">Another page</a>
        <img src="poster.jpg"><a href="javascript:play('x.mp4')">play</a>
        <video controls poster="poster.jpg" src="clips/sunset.mp4"></video>
        <a href="related/next.mp4">Next video</a>
      </body></html>`,
      PAGE,
    );
    expect(media.title).toBe("Sunset over the bay");
    expect(media.main).toEqual({ url: "https://example.com/shows/week/clips/sunset.mp4", kind: "video" });
    expect(media.candidates.map((c) => c.kind)).toEqual(["video", "link"]);
  });

  it("prefers the mp4 among a media element's <source> alternatives", () => {
    const media = findPageMedia(
      `<video><source src="a.webm" type="video/webm"><source src="a.stream" type="video/mp4"></video>`,
      PAGE,
    );
    expect(media.main?.url).toBe("https://example.com/shows/week/a.stream");
    expect(media.files).toEqual(["https://example.com/shows/week/a.stream"]);
  });

  it("uses og:video when the page shows no player, secure_url first, og:title as the name", () => {
    const media = findPageMedia(
      `<html><head><title>Site | Clip</title>
        <meta property="og:title" content="The Clip">
        <meta property="og:video" content="http://cdn.example.net/v/clip.mp4">
        <meta property="og:video:secure_url" content="https://cdn.example.net/v/clip.mp4">
        <meta property="og:video:type" content="video/mp4"></head><body><p>text</p></body></html>`,
      PAGE,
    );
    expect(media.title).toBe("The Clip");
    expect(media.main).toEqual({ url: "https://cdn.example.net/v/clip.mp4", kind: "og:video" });
  });

  it("takes og:audio (its secure_url first) when the page has no player and no og:video", () => {
    const media = findPageMedia(
      `<head><meta property="og:audio" content="http://cdn.example.net/a/ep1.mp3">
        <meta property="og:audio:secure_url" content="https://cdn.example.net/a/ep1.mp3"></head>
       <body><a href="/feed/ep0.mp3">older</a></body>`,
      PAGE,
    );
    expect(media.main).toEqual({ url: "https://cdn.example.net/a/ep1.mp3", kind: "og:audio" });
    expect(media.files).toEqual(["https://example.com/feed/ep0.mp3"]);
  });

  it("ignores an og:video that is a player page or flash", () => {
    const media = findPageMedia(
      `<meta property="og:video" content="https://player.example.com/embed/1">
       <meta property="og:video:type" content="text/html">
       <meta property="og:video" content="https://player.example.com/p.swf">`,
      PAGE,
    );
    expect(media.main).toBeNull();
    expect(media.files).toEqual([]);
  });

  it("resolves relative URLs against <base href> (itself relative to the page)", () => {
    const media = findPageMedia(
      `<html><head><base href="../media/"></head><body>
        <audio><source src="talk.mp3"></audio></body></html>`,
      PAGE,
    );
    expect(media.main).toEqual({ url: "https://example.com/shows/media/talk.mp3", kind: "audio" });
  });

  it("lists file links of a directory listing in page order, once each, dropping data:, javascript: and non-files", () => {
    const media = findPageMedia(
      `<html><body><h1>Index of /files/</h1><pre>
        <a href="../">../</a>
        <a href="?C=N;O=D">Name</a>
        <a href="ep%2001.mkv">ep 01.mkv</a>
        <a href="ep02.MKV?dl=1#top">ep02.MKV</a>
        <a href="notes.txt">notes.txt</a>
        <a href="data:video/mp4;base64,AAAA">inline.mp4</a>
        <a href="javascript:void('x.mp4')">x.mp4</a>
        <a href="ep%2001.mkv#again">again</a>
        <a href="ftp://example.com/ep03.mkv">ftp</a>
        <a href="https://mirror.example.org/all.tar.gz">all.tar.gz</a>
        <link rel="alternate enclosure" href="/feed/ep00.mp3">
      </pre></body></html>`,
      "https://files.example.com/files/",
    );
    expect(media.main).toBeNull();
    expect(media.files).toEqual([
      "https://files.example.com/files/ep%2001.mkv",
      "https://files.example.com/files/ep02.MKV?dl=1",
      "https://mirror.example.org/all.tar.gz",
      "https://files.example.com/feed/ep00.mp3",
    ]);
    expect(media.candidates.map((c) => c.kind)).toEqual(["link", "link", "link", "enclosure"]);
  });

  it("treats several media elements without og:video as several files, og:video as the main one", () => {
    const two = `<video src="one.mp4"></video><p>and</p><video src="two.mp4"></video>`;
    expect(findPageMedia(two, PAGE).main).toBeNull();
    expect(findPageMedia(two, PAGE).files).toEqual([
      "https://example.com/shows/week/one.mp4",
      "https://example.com/shows/week/two.mp4",
    ]);
    const named = `<head><meta property="og:video" content="two.mp4"></head><body>${two}</body>`;
    expect(findPageMedia(named, PAGE).main).toEqual({ url: "https://example.com/shows/week/two.mp4", kind: "og:video" });
  });

  it("finds nothing on a page without media, and takes no address out of arbitrary script text", () => {
    const media = findPageMedia(
      `<html><head><title>Blog</title><script>var src = "https://example.com/secret.mp4";</script></head>
       <body><p>video.mp4 is mentioned in text</p><a href="/post/2">next</a><!-- <video src="c.mp4"> --></body></html>`,
      PAGE,
    );
    expect(media).toEqual({ title: "Blog", candidates: [], main: null, files: [], entries: [], scriptedPlayer: false });
  });

  it("reads players set up in scripts and markup: JW Player, JSON-LD, video.js, lazy attributes, twitter:player:stream", () => {
    const main = (html: string) => findPageMedia(html, PAGE).main;
    expect(main(`<div id="p"></div><script>jwplayer("p").setup({ file: "/media/jw.mp4", image: "/poster.jpg" });</script>`)).toEqual({
      url: "https://example.com/media/jw.mp4",
      kind: "script",
    });
    expect(main(`<script>jwplayer("p").setup({ sources: [{ file: "https:\\/\\/cdn.example.com\\/a.mp4" }] })</script>`)?.url).toBe("https://cdn.example.com/a.mp4");
    const ld = { "@context": "https://schema.org", "@graph": [{ "@type": "WebPage" }, { "@type": "VideoObject", name: "Ep", contentUrl: "/v/ep.mp4" }] };
    expect(main(`<script type="application/ld+json">${JSON.stringify(ld)}</script>`)).toEqual({ url: "https://example.com/v/ep.mp4", kind: "json-ld" });
    expect(main(`<video-js data-setup='{"sources":[{"src":"/vjs.mp4","type":"video/mp4"}]}'></video-js>`)?.url).toBe("https://example.com/vjs.mp4");
    expect(main(`<video class="lazy" data-src="/lazy.mp4" poster="/p.jpg"></video>`)?.url).toBe("https://example.com/lazy.mp4");
    expect(main(`<video><source data-src="/lazy2.mp4" type="video/mp4"></video>`)?.url).toBe("https://example.com/lazy2.mp4");
    expect(main(`<meta name="twitter:player" content="/embed/1"><meta name="twitter:player:stream" content="/tw.mp4">`)?.url).toBe("https://example.com/tw.mp4");
    // A player whose source no script names in a way the reader can take: it says so.
    const hidden = findPageMedia(`<video id="v"></video><script>var hls = new Hls(); hls.loadSource(stream());</script>`, PAGE);
    expect(hidden).toMatchObject({ main: null, files: [], scriptedPlayer: true });
  });

  it("reads lazy videos by their real address while src holds a placeholder, and finds every video of a gallery", () => {
    const media = findPageMedia(
      `<title>Clips</title><div class="gallery">
        <figure><video class="lazy" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="/v/one.mp4"></video><figcaption> The  first </figcaption></figure>
        <video src="/img/blank.gif" data-src="/v/two.mp4" title="Second"></video>
        <video src="" data-url="/v/three.mp4" aria-label="Third"></video>
        <video src="#" poster="/p.jpg"><source src="" data-lazy-src="/v/four.webm" type="video/webm"><source src="#" data-src="/v/four.mp4" type="video/mp4"></video>
      </div><a href="/v/one.mp4">download the first</a>`,
      PAGE,
    );
    expect(media.main).toBeNull();
    expect(media.entries).toEqual([
      { url: "https://example.com/v/one.mp4", kind: "video", title: "The first" },
      { url: "https://example.com/v/two.mp4", kind: "video", title: "Second" },
      { url: "https://example.com/v/three.mp4", kind: "video", title: "Third" },
      { url: "https://example.com/v/four.mp4", kind: "video", title: null },
    ]);
    // What is queued without a question: each video once (the mp4 of the fourth), never a placeholder.
    expect(media.files).toEqual(["one", "two", "three", "four"].map((n) => `https://example.com/v/${n}.mp4`));
    expect(media.candidates.some((c) => /blank\.gif|base64|shows\/week\/index/.test(c.url))).toBe(false);
    // A real src wins over a lazy attribute; a placeholder with nothing behind it is no video.
    expect(findPageMedia(`<video src="/v/real.mp4" data-src="/v/other.mp4"></video>`, PAGE).main?.url).toBe("https://example.com/v/real.mp4");
    expect(findPageMedia(`<video src="/img/spinner.gif"></video>`, PAGE)).toMatchObject({ main: null, files: [], entries: [], scriptedPlayer: true });
  });

  it("counts a video named twice (an element and JSON-LD) once, and an <audio> or a link as no gallery entry", () => {
    const ld = { "@type": "VideoObject", name: "Ep 1", contentUrl: "/v/ep1.mp4" };
    const media = findPageMedia(
      `<video><source src="/v/ep1.webm"><source src="/v/ep1.mp4"></video><audio src="/a/talk.mp3"></audio>
       <a href="/v/extra.mp4">extra</a><script type="application/ld+json">${JSON.stringify(ld)}</script>`,
      PAGE,
    );
    expect(media.entries).toEqual([{ url: "https://example.com/v/ep1.mp4", kind: "video", title: "Ep 1" }]);
  });

  it("reads JW Player's playlist form like its file form: one video per entry, its sources one video", () => {
    // As server code writes it: JSON with quoted keys and escaped slashes, and no extension on a file JW Player types.
    const one = `<script>jwplayer("p").setup({"playlist":[{"title":"Talk","image":"\\/p.jpg","sources":[{"file":"\\/v\\/talk.m3u8"},{"file":"\\/v\\/talk.mp4","type":"mp4"}],"tracks":[{"file":"\\/v\\/talk.vtt"}]}],"width":"100%"});</script>`;
    const media = findPageMedia(one, PAGE);
    expect(media.main).toEqual({ url: "https://example.com/v/talk.mp4", kind: "script" });
    expect(media.entries).toEqual([{ url: "https://example.com/v/talk.mp4", kind: "script", title: "Talk" }]);
    expect(media.candidates.map((c) => c.url)).toEqual(["https://example.com/v/talk.m3u8", "https://example.com/v/talk.mp4"]);
    expect(findPageMedia(`<script>jwplayer("p").setup({ playlist: [{ file: "/media/stream?id=5", type: "mp4" }] })</script>`, PAGE).main?.url).toBe(
      "https://example.com/media/stream?id=5",
    );
    const three = findPageMedia(
      `<script>
        var player = jwplayer("p");
        player.setup({
          playlist: [
            { title: 'Part 1', file: '/v/p1.mp4' }, // the opening
            { title: 'Part 2', sources: [{ file: '/v/p2.mp4' }], image: '/p2.jpg' },
            { title: "Part " + n, file: "/v/" + n + ".mp4" },
            { title: \`Part 3\`, file: "/v/p3.mp4" },
          ],
          events: { onReady() { track("}"); } },
        });
      </script>`,
      PAGE,
    );
    // Taken without a question as before: the first; offered as a gallery: all three.
    expect(three.main?.url).toBe("https://example.com/v/p1.mp4");
    expect(three.entries.map((e) => [e.title, e.url])).toEqual([
      ["Part 1", "https://example.com/v/p1.mp4"],
      ["Part 2", "https://example.com/v/p2.mp4"],
      ["Part 3", "https://example.com/v/p3.mp4"],
    ]);
    // A setup given a variable is still read for the addresses its script names.
    expect(findPageMedia(`<script>var c = { file: "/v/c.mp4" }; jwplayer("p").setup(c);</script>`, PAGE).main?.url).toBe("https://example.com/v/c.mp4");
  });

  it("does not take a .ts link for a video: in a listing it is far more often TypeScript", () => {
    expect(findPageMedia(`<a href="app.ts">app.ts</a><a href="clip.mp4">clip.mp4</a>`, PAGE).files).toEqual(["https://example.com/shows/week/clip.mp4"]);
  });

  it("decodes raw bytes in the charset the server or the page declares", () => {
    const latin1 = Buffer.from(`<title>Caf\xe9 clips</title><video src="caf\xe9.mp4"></video>`, "latin1");
    expect(findPageMedia(latin1, PAGE, { charset: "iso-8859-1" }).title).toBe("Café clips");
    const meta = Buffer.concat([Buffer.from(`<meta charset="windows-1252"><title>`), Buffer.from([0x93, 0x51, 0x94]), Buffer.from(`</title>`)]);
    expect(findPageMedia(meta, PAGE).title).toBe("“Q”");
    expect(findPageMedia(Buffer.from("<title>Ünïcode</title>"), PAGE).title).toBe("Ünïcode");
  });
});

describe("findPageMedia on huge pages", () => {
  // Whatever a page holds must not block the event loop (and with it the bot) for long. Searching
  // candidates linearly took 7 s and more at half these sizes (four times that here), where the
  // parse takes about 1.5 s alone on a 2-core machine: the limit leaves room for a loaded CI
  // machine and still fails a quadratic search. (Fetched pages stop at 5 MB; the second is bigger.)
  it("lists a directory of 120 000 links quickly", { timeout: 12_000 }, () => {
    const rows = Array.from({ length: 120_000 }, (_, i) => `<a href="f${i}.zip">f${i}.zip</a>`).join("\n");
    const media = findPageMedia(Buffer.from(`<html><body><pre>${rows}</pre></body></html>`), "https://example.com/d/");
    expect(media.files).toHaveLength(120_000);
    expect(media.files[119_999]).toBe("https://example.com/d/f119999.zip");
  });

  it("reads a player with 80 000 sources and as many og:video tags quickly", { timeout: 12_000 }, () => {
    const sources = Array.from({ length: 80_000 }, (_, i) => `<source src="v${i}.webm">`).join("");
    const metas = Array.from({ length: 80_000 }, (_, i) => `<meta property="og:video:secure_url" content="https://cdn.example.com/o${i}.mp4">`).join("");
    const media = findPageMedia(`<head>${metas}</head><body><video>${sources}</video></body>`, PAGE);
    expect(media.main).toEqual({ url: "https://example.com/shows/week/v0.webm", kind: "video" });
    expect(media.candidates.filter((c) => c.kind === "og:video")).toEqual([{ url: "https://cdn.example.com/o0.mp4", kind: "og:video" }]);
  });
});

describe("URL helpers", () => {
  it("resolves only http(s) URLs and drops fragments", () => {
    expect(resolveUrl(" a b.mp4#t=10 ", PAGE)).toBe("https://example.com/shows/week/a%20b.mp4");
    expect(resolveUrl("//cdn.example.net/x.mp4", PAGE)).toBe("https://cdn.example.net/x.mp4");
    for (const bad of ["", "   ", "data:video/mp4;base64,AA", "javascript:alert(1)", "mailto:a@b.c", "blob:https://x/y", "http://"]) {
      expect(resolveUrl(bad, PAGE)).toBeNull();
    }
    expect(resolveUrl(undefined, PAGE)).toBeNull();
  });

  it("reads the extension from the decoded path only", () => {
    expect(extensionOfUrl("https://x/a/Clip.MP4?name=z.zip")).toBe(".mp4");
    expect(extensionOfUrl("https://x/a/b%2Etar.gz")).toBe(".gz");
    expect(extensionOfUrl("https://x/dir/")).toBe("");
  });
});

describe("crawl texts", () => {
  it("says how many were added and why the others were skipped", () => {
    const base = { found: 0, added: 0, overCap: 0, cap: 50, tooLarge: 0, alreadyQueued: 0, refused: 0 };
    expect(summarizeCrawl({ ...base, found: 5, added: 5 })).toBe("5 files found, all queued.");
    expect(summarizeCrawl({ ...base, found: 1, added: 1 })).toBe("1 file found, queued.");
    expect(summarizeCrawl({ ...base, found: 80, added: 50, overCap: 30 })).toBe(
      "80 files found: 50 queued, 30 skipped (over the limit of 50 per page).",
    );
    expect(
      summarizeCrawl({ ...base, found: 7, added: 3, tooLarge: 1, alreadyQueued: 2, refused: 1, firstRefusal: { kind: "privateNetwork", host: "x" } }),
    ).toBe("7 files found: 3 queued, 4 skipped (1 too large; 2 already in line; 1 refused: x is on a private or local network, which this bot does not fetch from; send a public URL).");
    expect(summarizeCrawl({ ...base, found: 1, alreadyQueued: 1, cap: 1 })).toBe("1 file found: none queued, 1 skipped (already in line).");
  });

  it("names the main media after the page, keeping the file's extension", () => {
    expect(mediaName("Sunset over the bay", "sunset.mp4", "https://x/clips/sunset.mp4")).toBe("Sunset over the bay.mp4");
    expect(mediaName("Talk.MP3", "talk.mp3", "https://x/talk.mp3")).toBe("Talk.MP3");
    expect(mediaName("A/B: part 1?", "stream", "https://x/v/stream")).toBe("A_B_ part 1_");
    expect(mediaName(null, "clip.mp4", "https://x/clip.mp4")).toBe("clip.mp4");
  });
});

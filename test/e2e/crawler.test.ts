import { afterEach, describe, expect, it } from "vitest";
import { listItems } from "../../src/db/item-repository.ts";
import { liveMessageOf } from "../../src/db/message-repository.ts";
import { FileServer } from "../support/file-server.ts";
import { playableMp4 } from "../support/media.ts";
import type { RecordedCall } from "../support/bot-api-double.ts";
import { CHAT, Harness, madeUpNames } from "../support/harness.ts";

let h: Harness;
afterEach(async () => {
  await h?.close();
});

/** An nginx-style autoindex page listing `names` (relative links, as nginx writes them). */
function autoindex(dir: string, names: string[]): string {
  const rows = names.map((n) => `<a href="${encodeURIComponent(n)}">${n}</a>                 22-Nov-2026 10:00    1024`);
  return `<html>\r\n<head><title>Index of ${dir}</title></head>\r\n<body>\r\n<h1>Index of ${dir}</h1><hr><pre><a href="../">../</a>\r\n${rows.join("\r\n")}\r\n</pre><hr></body>\r\n</html>\r\n`;
}

/** Waits for `n` successful uploads after `since`, in order. */
async function uploads(n: number, since: number): Promise<RecordedCall[]> {
  const out: RecordedCall[] = [];
  let from = since;
  for (let i = 0; i < n; i++) {
    const u = await h.upload(from);
    out.push(u);
    from = u.seq + 1;
  }
  return out;
}

describe("/download of a web page with one main media", () => {
  it("downloads the page's <video>, named after the page, and nothing the decoy links point to", async () => {
    h = await Harness.create();
    const video = h.files.addFile("/media/sunset.mp4", playableMp4(21), { contentType: "video/mp4" });
    h.files.addFile("/media/related.mp4", FileServer.randomBytes(10_000, 22), { contentType: "video/mp4" });
    h.files.addFile("/media/bonus.zip", FileServer.randomBytes(10_000, 23));
    const page = h.files.addHtml(
      "/watch/sunset.html",
      `<!doctype html><html><head><title>Sunset over the bay</title></head><body>
        <nav><a href="/">Home</a> <a href="/watch/other.html">Other videos</a></nav>
        <video controls poster="/media/poster.jpg" src="/media/sunset.mp4"></video>
        <aside><a href="/media/related.mp4">Related: sunrise</a> <a href="/media/bonus.zip">Bonus pack</a>
        <a href="javascript:download('/media/bonus.zip')">download</a></aside></body></html>`,
    );
    await h.start();
    const since = h.api.nextSeq;
    const request = h.send(`/download ${page}`);
    expect(String((await h.reply(since, CHAT, /Queued/)).params.text)).toMatch(/Queued #1 <b>sunset\.html<\/b>/);

    const upload = await h.upload(since);
    expect(upload.method).toBe("sendVideo");
    expect(upload.files[0]!.sha256).toBe(video.sha256);
    expect(upload.files[0]!.filename).toBe("Sunset over the bay.mp4");
    expect((upload.params.reply_parameters as { message_id: number }).message_id).toBe(request);
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);

    const items = await listItems(h.app!.db);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ status: "completed", sourceKind: "direct", url: video.url, title: "Sunset over the bay.mp4", attempts: 0 });
    // The page was read (by the direct handler, which handed it over, then by the crawler), the
    // video pre-checked and fetched; no decoy was ever requested.
    expect(h.files.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "HEAD /watch/sunset.html",
      "GET /watch/sunset.html",
      "GET /watch/sunset.html",
      "HEAD /media/sunset.mp4",
      "GET /media/sunset.mp4",
    ]);
  });

  it("names the file after the page without the site's name, and without invisible characters", async () => {
    h = await Harness.create();
    const video = h.files.addFile("/media/ep4.mp4", FileServer.randomBytes(30_000, 24), { contentType: "video/mp4" });
    const page = h.files.addHtml(
      "/watch/ep4.html",
      `<!doctype html><html><head><title>Episode\u200b 4: The \u202eKey - Example TV</title>
        <meta property="og:site_name" content="Example TV"></head>
        <body><video controls src="/media/ep4.mp4"></video></body></html>`,
    );
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(video.sha256);
    expect(upload.files[0]!.filename).toBe("Episode 4_ The Key.mp4");
    expect(await h.waitForText(await h.progressMessageId(since), /delivered/, since)).toBe("✅ Episode 4_ The Key.mp4: delivered (29.3 KB)");
  });

  it("delivers the video of a JW Player page, a JSON-LD page and a lazy page", async () => {
    h = await Harness.create();
    const pages = [
      ["jw", `<title>JW</title><div id="p"></div><script>jwplayer("p").setup({ file: "/v/jw.mp4", image: "/v/poster.jpg" });</script>`],
      ["ld", `<title>LD</title><script type="application/ld+json">{"@context":"https://schema.org","@type":"VideoObject","name":"LD","contentUrl":"/v/ld.mp4"}</script>`],
      ["lazy", `<title>Lazy</title><video class="lazyload" data-src="/v/lazy.mp4" poster="/v/poster.jpg"></video>`],
    ] as const;
    const videos = pages.map(([name], i) => h.files.addFile(`/v/${name}.mp4`, playableMp4(140 + i), { contentType: "video/mp4" }));
    const urls = pages.map(([name, html]) => h.files.addHtml(`/p/${name}.html`, `<!doctype html><html><head></head><body>${html}</body></html>`));
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${urls.join("\n")}`);
    await h.api.waitForCall(() => h!.uploads().length === 3, { since });
    expect(h.uploads().map((u) => [u.method, u.files[0]!.sha256, u.files[0]!.filename])).toEqual([
      ["sendVideo", videos[0]!.sha256, "JW.mp4"],
      ["sendVideo", videos[1]!.sha256, "LD.mp4"],
      ["sendVideo", videos[2]!.sha256, "Lazy.mp4"],
    ]);
    expect(h.files.requests.some((r) => r.path === "/v/poster.jpg")).toBe(false);
  });

  it("says when a page's player is set up by a script it cannot read", async () => {
    h = await Harness.create();
    const page = h.files.addHtml("/p/hidden.html", `<title>Hidden</title><video id="v"></video><script>var hls = new Hls(); hls.loadSource(pick());</script>`);
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    expect(String((await h.reply(since, CHAT, /failed/)).params.text)).toBe(
      "❌ <b>Hidden</b>: failed: the page has a player whose source is set by a script the bot could not read, and no video, audio or file links.",
    );
  });

  it("downloads the og:video of a page that shows no player", async () => {
    h = await Harness.create();
    const clip = h.files.addFile("/cdn/v/clip-720.mp4", FileServer.randomBytes(80_000, 24), { contentType: "video/mp4" });
    const page = h.files.addHtml(
      "/p/42",
      `<html><head><title>Example | a clip</title>
        <meta property="og:title" content="A clip">
        <meta property="og:video" content="${clip.url}">
        <meta property="og:video:type" content="video/mp4">
        <script src="/player.js"></script></head><body><div id="player"></div></body></html>`,
    );
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(clip.sha256);
    expect(upload.files[0]!.filename).toBe("A clip.mp4");
    expect(h.files.requests.some((r) => r.path === "/player.js")).toBe(false);
  });

  it("falls back to the page's file links when its og:video turns out to be a player page", async () => {
    h = await Harness.create();
    h.files.addHtml("/embed/7", `<html><body><div id="player"></div></body></html>`);
    const file = h.files.addFile("/dl/show-7.mkv", FileServer.randomBytes(20_000, 27));
    const page = h.files.addHtml(
      "/show/7",
      `<head><title>Show 7</title><meta property="og:video" content="/embed/7"></head><body><a href="/dl/show-7.mkv">download</a></body>`,
    );
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    expect(String((await h.reply(since, CHAT, /found/)).params.text)).toBe("📄 <b>Show 7</b>: 1 file found, queued.");
    expect((await h.upload(since)).files[0]!.sha256).toBe(file.sha256);
    // The player page was only pre-checked, never read or queued.
    expect(h.files.requests.filter((r) => r.path === "/embed/7").map((r) => r.method)).toEqual(["HEAD"]);
  });

  it("resolves a relative <source> against <base href>", async () => {
    h = await Harness.create();
    const talk = h.files.addFile("/cdn/v1/talk.mp3", FileServer.randomBytes(60_000, 25), { contentType: "audio/mpeg" });
    // Where the file would be if <base> were ignored: different bytes.
    h.files.addFile("/shows/a/talk.mp3", FileServer.randomBytes(60_000, 26), { contentType: "audio/mpeg" });
    const page = h.files.addHtml(
      "/shows/a/episode.html",
      `<html><head><base href="/cdn/v1/"><title>Episode 1: the talk</title></head>
       <body><audio controls><source src="talk.ogg" type="audio/ogg"><source src="talk.mp3" type="audio/mpeg"></audio></body></html>`,
    );
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendAudio");
    expect(upload.files[0]!.sha256).toBe(talk.sha256);
    expect(upload.files[0]!.filename).toBe("Episode 1_ the talk.mp3");
    expect(h.files.requests.filter((r) => r.path.startsWith("/shows/a/talk"))).toEqual([]);
  });
});

describe("/download of a page that lists files", () => {
  it("queues every file of an autoindex listing in page order and uploads each", async () => {
    h = await Harness.create();
    const names = ["01 intro.mkv", "02 basics.mkv", "03 more.mkv", "04 advanced.mkv", "05 outro.mkv"];
    const files = names.map((n, i) => h.files.addFile(`/course/${n}`, FileServer.randomBytes(30_000 + i * 1000, 30 + i)));
    h.files.addFile("/course/readme.txt", Buffer.from("not media"));
    const page = h.files.addHtml("/course/", autoindex("/course/", [...names.slice(0, 2), "readme.txt", ...names.slice(2)]));
    await h.start();
    const since = h.api.nextSeq;
    const request = h.send(`/download ${page}`);

    const summary = await h.reply(since, CHAT, /found/);
    expect(String(summary.params.text)).toBe("📄 <b>Index of /course/</b>: 5 files found, all queued.");
    expect((summary.params.reply_parameters as { message_id: number }).message_id).toBe(request);

    const sent = await uploads(5, since);
    expect(sent.map((u) => u.files[0]!.sha256)).toEqual(files.map((f) => f.sha256));
    expect(sent.map((u) => u.files[0]!.filename)).toEqual(names);
    await h.api.waitForCall((c) => c.method === "editMessageText" && /05 outro\.mkv<\/b>: delivered/.test(String(c.params.text)), { since });

    const items = await listItems(h.app!.db);
    expect(items.map((i) => [i.url, i.status])).toEqual([
      [page, "completed"],
      ...files.map((f) => [f.url, "completed"]),
    ]);
    // The page answers once: its live message gave way to the answer, which is the only message
    // that says so.
    const pageProgress = await h.progressMessageId(since);
    expect(await liveMessageOf(h.app!.db, items[0]!.id)).toBeUndefined();
    expect(h.api.visibleMessages(CHAT).map((m) => m.message_id)).not.toContain(pageProgress);
    expect(h.api.visibleMessages(CHAT).filter((m) => /5 files found/.test(m.text ?? ""))).toHaveLength(1);
    expect(h.files.requests.some((r) => r.path === "/course/readme.txt")).toBe(false);
  });

  it("crawls a page larger than maxFileSizeBytes: the limit is for files, not for the page", async () => {
    h = await Harness.create({ maxFileSizeBytes: 20_000 });
    const names = ["a.mp3", "b.mp3"];
    const files = names.map((n, i) => h.files.addFile(`/big-page/${n}`, FileServer.randomBytes(5_000, 60 + i)));
    const filler = `<p>${"lorem ipsum ".repeat(3000)}</p>`;
    const page = h.files.addHtml("/big-page/", autoindex("/big-page/", names).replace("</pre>", `</pre>${filler}`));
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const summary = await h.reply(since, CHAT, /found/);
    expect(String(summary.params.text)).toMatch(/2 files found, all queued/);
    const sent = await uploads(2, since);
    expect(sent.map((u) => u.files[0]!.sha256)).toEqual(files.map((f) => f.sha256));
  });

  it("queues at most crawlMaxItems files of a page and says how many it skipped", async () => {
    h = await Harness.create();
    const names = Array.from({ length: 80 }, (_, i) => `part${String(i + 1).padStart(2, "0")}.zip`);
    const files = names.map((n, i) => h.files.addFile(`/big/${n}`, FileServer.randomBytes(512, 100 + i)));
    const page = h.files.addHtml("/big/", autoindex("/big/", names));
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);

    const summary = String((await h.reply(since, CHAT, /found/)).params.text);
    expect(summary).toBe(
      "📄 <b>Index of /big/</b>: 80 files found: 50 queued, 30 skipped (over the limit of 50 per page).",
    );
    const items = await listItems(h.app!.db);
    expect(items.slice(1).map((i) => i.url)).toEqual(files.slice(0, 50).map((f) => f.url));
    // Files over the cap were not even pre-checked.
    const probed = h.files.requests.filter((r) => r.method === "HEAD" && r.path.startsWith("/big/part")).map((r) => r.path);
    expect(probed).toEqual(names.slice(0, 50).map((n) => `/big/${n}`));
  });

  it("skips a listed link on a private address while the guard is on, and never fetches it (nor one over the size limit)", async () => {
    h = await Harness.create({ allowPrivateNetworks: false, maxFileSizeBytes: 100_000 });
    const port = new URL(h.files.baseUrl).port;
    const ok = h.files.addFile("/list/ok.zip", FileServer.randomBytes(20_000, 41));
    h.files.addFile("/list/huge.zip", FileServer.randomBytes(150_000, 44));
    h.files.addFile("/list/secret.zip", FileServer.randomBytes(20_000, 42));
    h.files.addFile("/v/secret.mp4", FileServer.randomBytes(20_000, 43), { contentType: "video/mp4" });
    h.files.addHtml(
      "/list/",
      `<html><body><a href="http://intranet.test:${port}/list/secret.zip">secret</a>
       <a href="http://127.0.0.2:${port}/list/secret.zip">loopback</a> <a href="ok.zip">ok</a> <a href="huge.zip">huge</a>
       <a href="player.mp4">a page named like a video</a></body></html>`,
    );
    // A link found on a page must be a file: a page behind it is not crawled in turn.
    h.files.addHtml("/list/player.mp4", `<video src="/list/secret.zip"></video>`);
    h.files.addHtml("/watch/private.html", `<title>Private</title><video src="http://intranet.test:${port}/v/secret.mp4"></video>`);
    const names = madeUpNames();
    const resolved = names.resolved;
    await h.start(names.options);
    let since = h.api.nextSeq;
    h.send(`/download http://files.test:${port}/list/`);
    const summary = String((await h.reply(since, CHAT, /found/)).params.text);
    expect(summary).toBe(
      "📄 <b>list</b>: 5 files found: 1 queued, 4 skipped (1 too large; 3 refused: intranet.test (10.0.0.7) is on a private or local network, which this bot does not fetch from; send a public URL).",
    );
    expect((await h.upload(since)).files[0]!.sha256).toBe(ok.sha256);
    expect(resolved).toContain("intranet.test");

    since = h.api.nextSeq;
    h.send(`/download http://files.test:${port}/watch/private.html`);
    const failure = String((await h.reply(since, CHAT, /failed/)).params.text);
    expect(failure).toBe(
      "❌ <b>Private</b>: failed: intranet.test (10.0.0.7) is on a private or local network, which this bot does not fetch from; send a public URL.",
    );
    const items = await listItems(h.app!.db);
    expect(items.map((i) => [i.url.replace(port, "PORT"), i.status, i.errorCode])).toEqual([
      ["http://files.test:PORT/list/", "completed", null],
      ["http://files.test:PORT/list/ok.zip", "completed", null],
      ["http://files.test:PORT/watch/private.html", "failed", "PRIVATE_NETWORK"],
    ]);
    expect(h.files.requests.filter((r) => r.path.includes("secret"))).toEqual([]);
    // The file over the limit was only pre-checked.
    expect(h.files.requests.filter((r) => r.path === "/list/huge.zip").map((r) => r.method)).toEqual(["HEAD"]);
    expect(h.files.requests.filter((r) => r.path === "/list/player.mp4").map((r) => r.method)).toEqual(["HEAD"]);
  });
});

describe("pages without media", () => {
  it("fails at once, without retries, saying no media was found", async () => {
    h = await Harness.create();
    const page = h.files.addHtml(
      "/blog/post",
      `<html><head><title>My blog post</title><script>const v = "/media/x.mp4";</script></head>
       <body><p>I once saw a file called movie.mp4.</p><a href="/blog/next">next post</a><img src="/i/cat.jpg"></body></html>`,
    );
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const failure = String((await h.reply(since, CHAT, /failed/)).params.text);
    expect(failure).toBe("❌ <b>My blog post</b>: failed: no downloadable media was found on the page (no video, audio or file links).");
    const [item] = await listItems(h.app!.db);
    expect(item).toMatchObject({ status: "failed", attempts: 1, errorCode: "NO_MEDIA", sourceKind: "crawler" });
    // Only the page was read (twice by the bot, and once more by yt-dlp when it is installed): no
    // decoy it mentions was fetched.
    const gets = h.files.requests.filter((r) => r.method === "GET").map((r) => r.path);
    expect(gets.slice(0, 2)).toEqual(["/blog/post", "/blog/post"]);
    expect(new Set(gets)).toEqual(new Set(["/blog/post"]));
    expect(h.uploads()).toEqual([]);
  });

  it("does not parse a page over 5 MB, even one that does not say its length", async () => {
    h = await Harness.create();
    const filler = "<p>" + "lorem ipsum ".repeat(40) + "</p>\n";
    const html = `<html><head><title>Huge</title></head><body>${filler.repeat(Math.ceil((5.5 * 1024 * 1024) / filler.length))}<video src="/v.mp4"></video></body></html>`;
    h.files.addFile("/v.mp4", FileServer.randomBytes(1000, 44), { contentType: "video/mp4" });
    const page = h.files.addFile("/huge.html", Buffer.from(html), { contentType: "text/html", sendLength: false }).url;
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const failure = String((await h.reply(since, CHAT, /failed/)).params.text);
    expect(failure).toMatch(/the page is larger than 5\.0 MB, too large to be searched for media/);
    expect((await listItems(h.app!.db))[0]).toMatchObject({ status: "failed", attempts: 1 });
    expect(h.files.requests.some((r) => r.path === "/v.mp4")).toBe(false);
  });
});

describe("duplicates", () => {
  it("never queues the same URL twice in a chat while an earlier copy is open", async () => {
    h = await Harness.create();
    const blocker = h.files.addFile("/blocker.bin", FileServer.randomBytes(200_000, 50));
    h.files.fault("/blocker.bin", { kind: "stall", afterBytes: 50_000, times: 1 });
    const eps = ["e1.mp3", "e2.mp3", "e3.mp3"].map((n, i) =>
      h.files.addFile(`/eps/${n}`, FileServer.randomBytes(15_000, 51 + i), { contentType: "audio/mpeg" }),
    );
    const trailer = h.files.addFile("/eps/trailer.mp4", FileServer.randomBytes(25_000, 55), { contentType: "video/mp4" });
    const listing = h.files.addHtml("/eps/", autoindex("/eps/", ["e1.mp3", "e2.mp3", "e3.mp3"]));
    const sorted = `${listing}?C=M;O=A`; // the same listing under another URL (Apache's sort links)
    const watch = h.files.addHtml("/watch/trailer.html", `<title>Trailer</title><video src="/eps/trailer.mp4"></video>`);
    await h.start();

    // Keep the worker busy so everything below waits in the queue.
    let since = h.api.nextSeq;
    h.send(`/download ${blocker.url}`);
    await h.files.waitForBytes("/blocker.bin", 50_000);

    since = h.api.nextSeq;
    h.send(`/download ${listing}`);
    expect(String((await h.reply(since, CHAT, /#2/)).params.text)).toMatch(/^✓ Queued #2 <b>eps<\/b>.*: position 2 in the queue\.$/);
    since = h.api.nextSeq;
    h.send(`/download ${listing}`);
    expect(String((await h.reply(since, CHAT, /#2/)).params.text)).toBe("↺ <b>eps</b> is already in the queue as #2 (position 2 in the queue).");

    since = h.api.nextSeq;
    h.send(`/download ${sorted}\n${watch}\n${trailer.url}`);
    const queued = String((await h.reply(since, CHAT, /#5/)).params.text);
    expect(queued).toMatch(/Queued #3 .*\n.*Queued #4 .*\n.*Queued #5 <b>trailer\.mp4<\/b>/);

    since = h.api.nextSeq;
    h.files.releaseStalls("/blocker.bin");
    const first = String((await h.reply(since, CHAT, /3 files found, all queued/)).params.text);
    expect(first).toBe("📄 <b>Index of /eps/</b>: 3 files found, all queued.");
    const second = await h.reply(since, CHAT, /already in line/);
    expect(String(second.params.text)).toBe("📄 <b>Index of /eps/</b>: 3 files found: none queued, 3 skipped (already in line).");
    const third = String((await h.reply(since, CHAT, /📄 <b>Trailer/)).params.text);
    expect(third).toMatch(/^📄 <b>Trailer<\/b>: its video is already in the queue as #5 \(position \d+ in the queue\)\.$/);

    // Blocker, trailer, then the three episodes: each delivered exactly once.
    await uploads(4, since);
    await h.api.waitForCall((c) => c.method === "editMessageText" && /e3\.mp3<\/b>: delivered/.test(String(c.params.text)), { since });
    expect(h.uploads().map((u) => u.files[0]!.sha256)).toEqual([blocker.sha256, trailer.sha256, ...eps.map((e) => e.sha256)]);
    const items = await listItems(h.app!.db);
    expect(items.map((i) => [i.id, i.url, i.status])).toEqual([
      [1, blocker.url, "completed"],
      [2, listing, "completed"],
      [3, sorted, "completed"],
      [4, watch, "completed"],
      [5, trailer.url, "completed"],
      ...eps.map((e, n) => [6 + n, e.url, "completed"]),
    ]);
  });
});

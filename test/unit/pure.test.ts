import { describe, expect, it } from "vitest";
import { chooseUploadKind } from "../../src/bot/uploader.ts";
import { describeOutcome, joinReply } from "../../src/bot/views/intake-view.ts";
import { withoutSiteName } from "../../src/sources/page-media.ts";
import { MAX_URL_LENGTH, parseUrlList } from "../../src/intake/url-input.ts";
import { DownloadError, InputError } from "../../src/errors.ts";
import { assertPublicHost, createGuardedLookup, isPublicAddress } from "../../src/net/address-guard.ts";
import { decideRetry } from "../../src/queue/retry-policy.ts";
import { SpeedMeter, progressBar, renderProgress } from "../../src/bot/views/progress-view.ts";
import { filenameFromDisposition, filenameFromUrl, totalFromContentRange } from "../../src/sources/http-probe.ts";
import { isHtml, isTorrentFile } from "../../src/sources/content-kind.ts";
import { MIN_SPLIT_BYTES, MIN_TAKEOVER_BYTES, canSplit, coversFile, planSegments, takeoverSplit } from "../../src/sources/segments.ts";
import { safeFileName, safeJoin } from "../../src/storage/paths.ts";
import { escapeHtml, formatBytes, formatDuration, truncate } from "../../src/text/format.ts";
import { SAFE_FORMATS, inputArgs, joinTracksArgs } from "../../src/tools/ffmpeg.ts";

describe("parseUrlList", () => {
  it("accepts http(s) URLs separated by spaces and new lines, without duplicates", () => {
    const r = parseUrlList("https://a.example/x.zip\nhttp://b.example/y  https://a.example/x.zip#frag");
    expect(r.urls).toEqual(["https://a.example/x.zip", "http://b.example/y"]);
    expect(r.problems).toEqual([]);
  });

  it("says what is wrong with other schemes, junk and over-long URLs, escaping what it echoes", () => {
    const long = "https://x.example/" + "a".repeat(MAX_URL_LENGTH);
    const r = parseUrlList(`ftp://x.example/f <b>junk</b> ${long}`);
    expect(r.urls).toEqual([]);
    expect(r.problems[0]).toContain("only http and https");
    expect(r.problems[1]).toContain("&lt;b&gt;junk&lt;/b&gt;");
    expect(r.problems[1]).toContain("not a valid URL");
    expect(r.problems[2]).toContain("too long");
    expect(r.problems[2]!.length).toBeLessThan(200);
  });

  it("takes long magnet links (many trackers) when magnets are allowed", () => {
    const magnet = "magnet:?xt=urn:btih:" + "a".repeat(40) + "&tr=http%3A%2F%2Ftracker.example%2Fannounce".repeat(80);
    expect(magnet.length).toBeGreaterThan(MAX_URL_LENGTH);
    expect(parseUrlList(magnet, { allowMagnet: true }).urls).toEqual([magnet]);
  });

  it("takes magnet links only when asked to", () => {
    expect(parseUrlList("magnet:?xt=urn:btih:abc").urls).toEqual([]);
    expect(parseUrlList("magnet:?xt=urn:btih:abc", { allowMagnet: true }).urls).toEqual(["magnet:?xt=urn:btih:abc"]);
  });
});

describe("address guard", () => {
  it("classifies addresses by range", () => {
    for (const a of ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "100.64.0.1"]) {
      expect(isPublicAddress(a), a).toBe(false);
    }
    for (const a of ["8.8.8.8", "93.184.216.34", "2001:4860:4860::8888"]) expect(isPublicAddress(a), a).toBe(true);
  });

  // Every way an IPv6 address can carry an IPv4 one, written as a URL would carry it.
  it.each([
    // [address, public?, what it is]
    ["::127.0.0.1", false, "IPv4-compatible loopback"],
    ["::7f00:1", false, "IPv4-compatible loopback, as URL parsing writes it"],
    ["::8.8.8.8", false, "IPv4-compatible, deprecated whatever it carries"],
    ["::ffff:127.0.0.1", false, "mapped loopback"],
    ["::ffff:7f00:1", false, "mapped loopback, hex"],
    ["::ffff:8.8.8.8", true, "mapped public"],
    ["::ffff:0:10.0.0.1", false, "translated private (RFC 6145)"],
    ["::ffff:0:8.8.8.8", true, "translated public"],
    ["64:ff9b::10.0.0.1", false, "NAT64 of a private address"],
    ["64:ff9b::a9fe:a9fe", false, "NAT64 of link-local (cloud metadata)"],
    ["64:ff9b::8.8.8.8", true, "NAT64 of a public address"],
    ["64:ff9b:1::8.8.8.8", false, "local-use NAT64 prefix"],
    ["2002:7f00:1::1", false, "6to4 of loopback"],
    ["2002:c0a8:101::1", false, "6to4 of 192.168.1.1"],
    ["2002:808:808::1", true, "6to4 of a public address"],
    ["2001:0:a00:1:0:0:f7f7:f7f7", false, "Teredo with a private server"],
    ["2001:0:808:808:0:0:f5ff:fffe", false, "Teredo with a private client (10.0.0.1 inverted)"],
    ["2001:0:808:808:0:0:f7f7:f7f7", true, "Teredo, both public"],
    ["2001:4860:4860::5efe:a00:1", false, "ISATAP interface id with a private address"],
    ["::", false, "unspecified"],
    ["::1", false, "loopback"],
    ["2001:4860:4860::8888", true, "plain public"],
  ])("classifies %s as public: %s (%s)", (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
    expect(isPublicAddress(new URL(`http://[${address}]/`).hostname.slice(1, -1))).toBe(expected);
  });

  it("refuses private IP literals unless allowed", () => {
    expect(() => assertPublicHost("127.0.0.1", { allowPrivate: false })).toThrow(InputError);
    expect(() => assertPublicHost("[::1]", { allowPrivate: false })).toThrow(/private or local/);
    expect(() => assertPublicHost("127.0.0.1", { allowPrivate: true })).not.toThrow();
    expect(() => assertPublicHost("127.0.0.1", { allowPrivate: false, trusted: ["127.0.0.1"] })).not.toThrow();
    expect(() => assertPublicHost("example.com", { allowPrivate: false })).not.toThrow();
  });

  it("fails a lookup when a name resolves to a private address", async () => {
    const lookup = createGuardedLookup({ allowPrivate: false }, async () => [{ address: "10.1.2.3", family: 4 }]);
    const error = await new Promise<unknown>((resolve) => lookup("evil.example", {}, (err) => resolve(err)));
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).code).toBe("PRIVATE_NETWORK");
    const ok = await new Promise<unknown>((resolve) =>
      createGuardedLookup({ allowPrivate: false }, async () => [{ address: "93.184.216.34", family: 4 }])("good.example", {}, (err, address) => resolve(err ?? address)),
    );
    expect(ok).toBe("93.184.216.34");
  });
});

describe("decideRetry", () => {
  const transient = new DownloadError("NETWORK", "reset", { retryable: true });
  const permanent = new DownloadError("HTTP_PERMANENT", "404");
  it("waits the configured delays, then gives up", () => {
    const delays = [0, 120_000, 480_000];
    expect(decideRetry(transient, 1, delays)).toEqual({ retry: true, delayMs: 0 });
    expect(decideRetry(transient, 2, delays)).toEqual({ retry: true, delayMs: 120_000 });
    expect(decideRetry(transient, 3, delays)).toEqual({ retry: true, delayMs: 480_000 });
    expect(decideRetry(transient, 4, delays)).toEqual({ retry: false });
  });
  it("never retries what cannot heal", () => {
    expect(decideRetry(permanent, 1, [0, 1000])).toEqual({ retry: false });
  });
});

describe("progress view", () => {
  it("renders name, bar, percent, bytes, speed, ETA, phase and queue", () => {
    const text = renderProgress({
      title: "a <b> file.zip",
      phase: "downloading",
      bytesDone: 512 * 1024,
      totalBytes: 1024 * 1024,
      speed: 256 * 1024,
      waiting: 2,
    });
    expect(text).toContain("a &lt;b&gt; file.zip");
    expect(text).toContain("Downloading");
    expect(text).toContain("50%");
    expect(text).toContain("512 KB / 1.0 MB");
    expect(text).toContain("256 KB/s");
    expect(text).toContain("ETA 2s");
    expect(text).toContain("2 waiting");
    expect(text).toContain(progressBar(0.5));
  });

  it("is the same text for the same state (so unchanged edits can be skipped)", () => {
    const s = { title: "x", phase: "uploading" as const, bytesDone: 1, totalBytes: 2, speed: null, waiting: 0 };
    expect(renderProgress(s)).toBe(renderProgress({ ...s }));
  });

  it("measures speed over a window", () => {
    const m = new SpeedMeter(10_000);
    expect(m.speed()).toBeNull();
    m.add(0, 0);
    m.add(1000, 1000);
    m.add(2000, 3000);
    expect(m.speed()).toBe(1500);
  });

  it("forgets what is older than its window while chunks stream in every few ms", () => {
    const m = new SpeedMeter(10_000);
    let bytes = 0;
    // 20 s at 100 KB/s, then 12 s at 10 KB/s, a chunk every 10 ms: the speed shown is the new one.
    for (let t = 0; t <= 20_000; t += 10) m.add(t, (bytes += 1000));
    expect(m.speed()).toBeCloseTo(100_000, -3);
    for (let t = 20_010; t <= 32_000; t += 10) m.add(t, (bytes += 100));
    expect(m.speed()).toBeCloseTo(10_000, -2);
  });
});

describe("text helpers", () => {
  it("formats and cuts", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(52_428_800)).toBe("50.0 MB");
    // Every unit's boundaries: the unit rolls over where the rounded number would reach 1024.
    const K = 1024;
    const cases: Array<[number, string]> = [
      [1023, "1023 B"],
      [K, "1.0 KB"],
      [K * 99.94, "99.9 KB"],
      [K * 99.97, "100 KB"],
      [K * K - 1, "1.0 MB"],
      [K * K - K * 0.4, "1.0 MB"],
      [K * K - K * 0.6, "1023 KB"],
      [K * K - K, "1023 KB"],
      [K * K, "1.0 MB"],
      [K ** 3 - 1, "1.0 GB"],
      [K ** 3, "1.0 GB"],
      [K ** 4 - 1, "1.0 TB"],
      [K ** 4, "1.0 TB"],
      [K ** 5, "1024 TB"],
    ];
    for (const [bytes, text] of cases) expect(formatBytes(bytes), String(bytes)).toBe(text);
    expect(formatDuration(3_725_000)).toBe("1h 2m");
    expect(escapeHtml(`<a href="x">&</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
    // Telegram counts UTF-16 units: an emoji is two.
    expect(truncate("😀😀😀😀", 5)).toBe("😀😀…");
    expect(truncate("😀😀😀😀", 4)).toBe("😀…");
    expect(truncate("abc", 3)).toBe("abc");
    expect(truncate("😀".repeat(1000), 1024).length).toBeLessThanOrEqual(1024);
  });
  it("keeps replies within Telegram's 4096 characters", () => {
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i} ` + "x".repeat(50));
    const text = joinReply(lines);
    expect(text.length).toBeLessThanOrEqual(4096);
    expect(text).toMatch(/… and \d+ more\.$/);
  });
  it("describes outcomes in one line", () => {
    const refused = describeOutcome({ status: "refused", error: new DownloadError("TOO_LARGE", "big", { reason: { kind: "tooLarge", size: 3 * 1024 ** 3, limit: 2 * 1024 ** 3 } }) }, "https://x.example/a");
    expect(refused).toBe("✗ https://x.example/a: the file is 3.0 GB, over this bot's limit of 2.0 GB.");
    const reason = { kind: "httpStatus", host: "x.example:8080", status: 404, permanent: true } as const;
    const missing = describeOutcome({ status: "refused", error: new DownloadError("HTTP_PERMANENT", "404", { reason }) }, "https://x.example:8080/a");
    expect(missing).toBe("✗ https://x.example:8080/a: the file is not there (HTTP 404); check the link and send it again.");
  });
});

describe("names from outside", () => {
  it("lose invisible and bidirectional characters", () => {
    expect(safeFileName("invoice\u202Efdp.exe")).toBe("invoicefdp.exe");
    expect(safeFileName("a\u200Bb\u200Fc\uFEFF.mp4")).toBe("abc.mp4");
    expect(withoutSiteName("Episode 4 - Example TV", "Example TV")).toBe("Episode 4");
    expect(withoutSiteName("Example TV | Episode 4", "example tv")).toBe("Episode 4");
    expect(withoutSiteName("Example TV", "Example TV")).toBe("Example TV");
    expect(withoutSiteName("Talk (C++) — my.site", "my.site")).toBe("Talk (C++)");
    expect(withoutSiteName("Talk - other", "my.site")).toBe("Talk - other");
  });

  it("never escape the directory", () => {
    expect(safeFileName("../../etc/passwd")).toBe("_.._etc_passwd");
    expect(safeFileName("..")).toBe("download");
    expect(safeFileName("CON.txt")).toBe("_CON.txt");
    expect(safeFileName("a\u0000b\nc.mp4")).toBe("abc.mp4");
    expect(Buffer.byteLength(safeFileName("é".repeat(300) + ".mkv"))).toBeLessThanOrEqual(200);
    expect(safeFileName("é".repeat(300) + ".mkv").endsWith(".mkv")).toBe(true);
    expect(safeJoin("/data/x", ["..", "..", "etc", "passwd"])).toBe("/data/x/etc/passwd");
    expect(safeJoin("/data/x", ["/abs", "f"])).toBe("/data/x/_abs/f");
  });
});

describe("HTTP helpers", () => {
  it("reads names and sizes from headers", () => {
    expect(filenameFromDisposition(`attachment; filename="a b.zip"`)).toBe("a b.zip");
    expect(filenameFromDisposition(`attachment; filename="x.bin"; filename*=UTF-8''%C3%A9t%C3%A9.mp4`)).toBe("été.mp4");
    expect(filenameFromDisposition("garbage;;")).toBeUndefined();
    expect(filenameFromUrl("https://x.example/dir/My%20File.mp4?x=1")).toBe("My File.mp4");
    expect(filenameFromUrl("https://x.example/")).toBe("x.example");
    expect(totalFromContentRange("bytes 0-0/12345")).toBe(12345);
    expect(totalFromContentRange("bytes 0-0/*")).toBeNull();
  });
  it("recognises pages and torrents", () => {
    expect(isHtml("text/html; charset=utf-8")).toBe(true);
    expect(isHtml("video/mp4")).toBe(false);
    expect(isTorrentFile("application/x-bittorrent", "https://x.example/a")).toBe(true);
    expect(isTorrentFile("application/octet-stream", "https://x.example/a.torrent")).toBe(true);
  });
  it("chooses how a file is uploaded", () => {
    expect(chooseUploadKind("a.mp4", "auto")).toBe("video");
    expect(chooseUploadKind("a.MP3", "auto")).toBe("audio");
    expect(chooseUploadKind("a.ogg", "auto")).toBe("audio");
    expect(chooseUploadKind("a.zip", "auto")).toBe("document");
    expect(chooseUploadKind("a.mp4", "document")).toBe("document");
  });
});

describe("splitting a download into parts", () => {
  const MB = 1024 * 1024;
  it("cuts a file into equal parts that cover it exactly, fewer for a small file", () => {
    expect(planSegments(24 * MB, 4)).toEqual([0, 1, 2, 3].map((i) => ({ start: i * 6 * MB, end: (i + 1) * 6 * MB, done: 0 })));
    const odd = planSegments(100 * MB + 3, 4);
    expect(odd).toHaveLength(4);
    expect(coversFile(odd, 100 * MB + 3)).toBe(true);
    // No part under 5 MB: 21 MB gets 4, 12 MB would get 2.
    expect(planSegments(21 * MB, 8)).toHaveLength(4);
    expect(planSegments(12 * MB, 4)).toHaveLength(2);
  });

  it("splits only what is big enough, with ranges and a validator for If-Range", () => {
    const ok = { connections: 4, total: MIN_SPLIT_BYTES, acceptRanges: "bytes", validator: '"abc"' };
    expect(canSplit(ok)).toBe(true);
    expect(canSplit({ ...ok, connections: 1 })).toBe(false);
    expect(canSplit({ ...ok, total: MIN_SPLIT_BYTES - 1 })).toBe(false);
    expect(canSplit({ ...ok, total: null })).toBe(false);
    expect(canSplit({ ...ok, acceptRanges: "none" })).toBe(false);
    expect(canSplit({ ...ok, acceptRanges: null })).toBe(false);
    expect(canSplit({ ...ok, validator: null })).toBe(false);
  });

  it("trusts a stored plan only when it covers the file in order with sane progress", () => {
    const plan = planSegments(24 * MB, 4);
    expect(coversFile(plan, 24 * MB)).toBe(true);
    expect(coversFile(plan, 25 * MB)).toBe(false);
    expect(coversFile(plan, null)).toBe(false);
    expect(coversFile([], 0)).toBe(false);
    expect(coversFile([plan[1]!, plan[0]!, plan[2]!, plan[3]!], 24 * MB)).toBe(false);
    expect(coversFile(plan.map((s, i) => (i === 2 ? { ...s, done: 7 * MB } : s)), 24 * MB)).toBe(false);
  });

  it("lets a free connection take over the second half of what the part with the most left has not queued", () => {
    const parts = [
      { start: 0, end: 6 * MB, queued: 1 * MB },
      { start: 6 * MB, end: 12 * MB, queued: 0 },
      { start: 12 * MB, end: 18 * MB, queued: 5 * MB },
    ];
    // The second has 6 MB left: it keeps 3, the free connection takes [9 MB, 12 MB).
    expect(takeoverSplit(parts, 2 * MB)).toEqual({ index: 1, at: 9 * MB });
    // Measured from what is queued, not from the part's start: 5 MB left after 1 MB queued.
    expect(takeoverSplit([{ start: 6 * MB, end: 12 * MB, queued: MB }], 2 * MB)).toEqual({ index: 0, at: 6 * MB + MB + 2.5 * MB });
    // An odd rest leaves the odd byte to the taker.
    expect(takeoverSplit([{ start: 0, end: 4 * MB + 1, queued: 0 }], 2 * MB)).toEqual({ index: 0, at: 2 * MB });
  });

  it("takes nothing over when either half would be under the minimum, or nothing runs", () => {
    expect(takeoverSplit([{ start: 0, end: 4 * MB - 1, queued: 0 }], 2 * MB)).toBeUndefined();
    expect(takeoverSplit([{ start: 0, end: 6 * MB, queued: 2 * MB + 1 }], 2 * MB)).toBeUndefined();
    expect(takeoverSplit([{ start: 0, end: 6 * MB, queued: 6 * MB }], 2 * MB)).toBeUndefined();
    expect(takeoverSplit([], 2 * MB)).toBeUndefined();
    // The default minimum: 2 MB each side.
    expect(takeoverSplit([{ start: 0, end: 2 * MIN_TAKEOVER_BYTES, queued: 0 }])).toEqual({ index: 0, at: MIN_TAKEOVER_BYTES });
    expect(takeoverSplit([{ start: 0, end: 2 * MIN_TAKEOVER_BYTES - 1, queued: 0 }])).toBeUndefined();
  });
});

describe("inputArgs (what every ffmpeg/ffprobe run may open)", () => {
  it("opens one local file, with the file protocol only and media demuxers only, or the demuxer named", () => {
    expect(inputArgs("/d/1/x.mkv")).toEqual([
      "-protocol_whitelist", "file",
      "-format_whitelist", "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mpegts,flv,avi,mp3,aac,flac,ogg,wav",
      "-i", "file:/d/1/x.mkv",
    ]);
    expect(inputArgs("/d/1/x.ts", "mpegts")).toEqual(["-protocol_whitelist", "file", "-f", "mpegts", "-i", "file:/d/1/x.ts"]);
    // None of the formats that open other files or the network.
    for (const open of ["hls", "dash", "concat", "sdp", "rtp", "image2"]) expect(SAFE_FORMATS).not.toContain(open);
  });

  it("reads a stream's pieces from the bot's list of local files, with the demuxer named", () => {
    const args = joinTracksArgs([{ list: "/d/1/.stream/track-0.list", format: "mpegts" }, { list: "/d/1/.stream/track-1.list", format: "mp4" }], "/d/1/s.mp4", 100);
    expect(args.join(" ")).toContain("-protocol_whitelist concatf,file -f mpegts -i concatf:file:/d/1/.stream/track-0.list -protocol_whitelist concatf,file -f mp4 -i concatf:file:/d/1/.stream/track-1.list");
  });
});

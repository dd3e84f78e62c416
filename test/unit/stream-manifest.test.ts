import { describe, expect, it } from "vitest";
import { describeReason } from "../../src/bot/views/error-view.ts";
import { AppError } from "../../src/errors.ts";
import { parseConnectTarget } from "../../src/net/guarded-proxy.ts";
import { belowSpeed } from "../../src/net/transfer-speed.ts";
import { parseMpdIsolated } from "../../src/sources/stream/mpd-isolated.ts";
import { checkDash, parseDash, parseHls, pickVariant, pieceUrl, readDash, segmentIv, sniffContainer, type ParsedMpd } from "../../src/sources/stream/stream-manifest.ts";

const BASE = "https://media.example/show/index.m3u8";

/** The line the chat would see for what `run` refused. */
function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return error instanceof AppError ? describeReason(error.reason) : String(error);
  }
  throw new Error("nothing was refused");
}

describe("HLS playlists", () => {
  it("reads a master playlist's variants with their audio renditions, resolved against the playlist", () => {
    const parsed = parseHls(
      [
        "#EXTM3U",
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",DEFAULT=YES,URI="audio/en.m3u8"',
        '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,AUDIO="aud"',
        "v0.m3u8",
        "#EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=320x180",
        "https://cdn.example/v1.m3u8",
        "",
      ].join("\n"),
      BASE,
    );
    expect(parsed).toEqual({
      kind: "variants",
      durationSeconds: 0,
      variants: [
        { bandwidth: 900000, height: 360, playlistUrl: "https://media.example/show/v0.m3u8", audio: { playlistUrl: "https://media.example/show/audio/en.m3u8" } },
        { bandwidth: 300000, height: 180, playlistUrl: "https://cdn.example/v1.m3u8" },
      ],
    });
  });

  it("reads a media playlist: byte ranges, an init section once, AES-128 keys with the sequence number as IV", () => {
    const parsed = parseHls(
      [
        "#EXTM3U",
        "#EXT-X-TARGETDURATION:4",
        "#EXT-X-MEDIA-SEQUENCE:7",
        '#EXT-X-MAP:URI="init.mp4"',
        '#EXT-X-KEY:METHOD=AES-128,URI="k.key"',
        "#EXTINF:4,",
        "#EXT-X-BYTERANGE:1000@0",
        "all.m4s",
        "#EXTINF:2.5,",
        "#EXT-X-BYTERANGE:500",
        "all.m4s",
        "#EXT-X-ENDLIST",
      ].join("\n"),
      BASE,
    );
    expect(parsed).toEqual({
      kind: "track",
      durationSeconds: 6.5,
      track: {
        pieces: [
          { url: "https://media.example/show/init.mp4" },
          { url: "https://media.example/show/all.m4s", range: { offset: 0, length: 1000 }, key: { url: "https://media.example/show/k.key", iv: "00000000000000000000000000000007" } },
          { url: "https://media.example/show/all.m4s", range: { offset: 1000, length: 500 }, key: { url: "https://media.example/show/k.key", iv: "00000000000000000000000000000008" } },
        ],
      },
    });
  });

  it("refuses live playlists, DRM and URIs that are not http(s)", () => {
    expect(() => parseHls("#EXTM3U\n#EXTINF:2,\na.ts\n", BASE)).toThrow(/live stream/);
    expect(() => parseHls('#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://x"\n#EXTINF:2,\na.ts\n#EXT-X-ENDLIST\n', BASE)).toThrow(/SAMPLE-AES/);
    for (const uri of ["httpproxy://127.0.0.1:6379/k.ts", "tcp://127.0.0.1:6379", "udp://127.0.0.1:9", "file:///etc/passwd", "https://host:99999/s.ts"]) {
      expect(() => parseHls(`#EXTM3U\n#EXTINF:2,\n${uri}\n#EXT-X-ENDLIST\n`, BASE)).toThrow();
    }
  });

  it("resolves only http(s) URLs", () => {
    expect(pieceUrl("../a.ts?x=1", BASE)).toBe("https://media.example/a.ts?x=1");
    expect(refusal(() => pieceUrl("data:video/mp2t;base64,AAAA", BASE))).toMatch(/points at a data address/);
  });

  it("takes the playlist's IV when it gives one", () => {
    expect(segmentIv(new Uint32Array([1, 2, 0xffffffff, 4]), 9)).toBe("0000000100000002ffffffff00000004");
    expect(segmentIv(undefined, 255)).toBe("000000000000000000000000000000ff");
  });
});

describe("DASH manifests", () => {
  it("reads representations with their init sections and the default audio", () => {
    const mpd = `<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT4S" minBufferTime="PT2S" profiles="urn:mpeg:dash:profile:isoff-live:2011">
  <Period id="0" start="PT0S">
    <AdaptationSet contentType="video" mimeType="video/mp4">
      <Representation id="0" bandwidth="500000" width="640" height="360" codecs="avc1.64001e">
        <SegmentTemplate timescale="1000" duration="2000" initialization="init-$RepresentationID$.m4s" media="chunk-$RepresentationID$-$Number%05d$.m4s" startNumber="1"/>
      </Representation>
    </AdaptationSet>
    <AdaptationSet contentType="audio" mimeType="audio/mp4" lang="en">
      <Representation id="1" bandwidth="64000" codecs="mp4a.40.2">
        <SegmentTemplate timescale="1000" duration="2000" initialization="init-$RepresentationID$.m4s" media="chunk-$RepresentationID$-$Number%05d$.m4s" startNumber="1"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>`;
    const parsed = parseDash(mpd, "https://media.example/dash/manifest.mpd");
    expect(parsed.kind).toBe("variants");
    if (parsed.kind !== "variants") return;
    expect(parsed.durationSeconds).toBe(4);
    const [variant] = parsed.variants;
    expect(variant!.height).toBe(360);
    expect(variant!.track!.pieces.map((p) => p.url)).toEqual([
      "https://media.example/dash/init-0.m4s",
      "https://media.example/dash/chunk-0-00001.m4s",
      "https://media.example/dash/chunk-0-00002.m4s",
    ]);
    expect(variant!.audio!.track!.pieces.map((p) => p.url.split("/").pop())).toEqual(["init-1.m4s", "chunk-1-00001.m4s", "chunk-1-00002.m4s"]);
  });

  it("refuses a dynamic (live) manifest", () => {
    const live = `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" minimumUpdatePeriod="PT2S" availabilityStartTime="2026-01-01T00:00:00Z" profiles="urn:mpeg:dash:profile:isoff-live:2011"><Period id="0" start="PT0S"><AdaptationSet mimeType="video/mp4"><Representation id="0" bandwidth="1" width="2" height="2"><SegmentTemplate duration="2" media="c-$Number$.m4s" initialization="i.m4s"/></Representation></AdaptationSet></Period></MPD>`;
    expect(() => parseDash(live, "https://media.example/live.mpd")).toThrow(/live stream/);
  });

  it("refuses a manifest that would expand into millions of segments, before expanding it", () => {
    const huge = `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="P1000Y"><Period id="0" start="PT0S"><AdaptationSet mimeType="video/mp4"><Representation id="0" bandwidth="1" width="2" height="2"><SegmentTemplate timescale="1000" duration="1" media="c-$Number$.m4s" initialization="i.m4s"/></Representation></AdaptationSet></Period></MPD>`;
    expect(refusal(() => parseDash(huge, "https://media.example/huge.mpd"))).toMatch(/more than the bot fetches/);
    const timeline = `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT10S"><Period id="0" start="PT0S"><AdaptationSet mimeType="video/mp4"><Representation id="0" bandwidth="1" width="2" height="2"><SegmentTemplate timescale="1" media="c-$Number$.m4s" initialization="i.m4s"><SegmentTimeline><S t="0" d="1" r="999999999"/></SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period></MPD>`;
    expect(refusal(() => parseDash(timeline, "https://media.example/t.mpd"))).toMatch(/more than the bot fetches/);
  });
});

describe("DASH expansion in a worker of its own", () => {
  it("expands a good manifest as the main thread would", async () => {
    const mpd = `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT4S"><Period id="0" start="PT0S"><AdaptationSet mimeType="video/mp4"><Representation id="v" bandwidth="1000" width="2" height="2"><SegmentTemplate timescale="1" duration="2" media="c-$Number$.m4s" initialization="i.m4s" startNumber="1"/></Representation></AdaptationSet></Period></MPD>`;
    const url = "https://media.example/a.mpd";
    checkDash(mpd, url);
    expect(readDash((await parseMpdIsolated(mpd, url)) as ParsedMpd, url)).toEqual(parseDash(mpd, url));
  });

  it("refuses a manifest the pre-count misjudges (an endNumber of two billion) instead of running out of memory", { timeout: 20_000 }, async () => {
    const mpd = `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT1S"><Period id="0" start="PT0S"><AdaptationSet mimeType="video/mp4"><Representation id="v" bandwidth="1" width="2" height="2"><SegmentTemplate timescale="1000" duration="1" endNumber="2000000000" media="c-$Number$.m4s" initialization="i.m4s"/></Representation></AdaptationSet></Period></MPD>`;
    const url = "https://media.example/huge.mpd";
    checkDash(mpd, url); // one second of 1 ms segments: 1,000, which the pre-count lets through
    const refused = await parseMpdIsolated(mpd, url, { heapMb: 32, timeoutMs: 8000 }).then(
      () => "expanded",
      (error: AppError) => describeReason(error.reason),
    );
    expect(refused).toBe("the stream's manifest could not be read.");
  });
});

describe("small pure pieces", () => {
  it("picks the best variant that fits, else the smallest", () => {
    const variants = [{ bandwidth: 8_000_000 }, { bandwidth: 800_000 }, { bandwidth: 2_000_000 }];
    expect(pickVariant(variants, 100, 30_000_000).bandwidth).toBe(2_000_000);
    expect(pickVariant(variants, 100, 1_000).bandwidth).toBe(800_000);
    expect(pickVariant(variants, 0, 1_000).bandwidth).toBe(8_000_000);
  });

  it("tells the containers apart by their first bytes", () => {
    const ts = Buffer.alloc(376);
    ts[0] = 0x47;
    ts[188] = 0x47;
    expect(sniffContainer(ts)).toBe("mpegts");
    expect(sniffContainer(Buffer.from("\0\0\0\x18ftypiso5", "latin1"))).toBe("mp4");
    expect(sniffContainer(Buffer.from("ID3\x04\0\0", "latin1"))).toBe("aac");
    expect(sniffContainer(Buffer.from("#EXTM3U\n", "latin1"))).toBeUndefined();
    expect(sniffContainer(Buffer.from("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n", "latin1"))).toBeUndefined();
  });

  it("judges the speed over the last whole window only", () => {
    const floor = { bytesPerSec: 1000, windowMs: 10_000 };
    expect(belowSpeed([[0, 0]], 5_000, 10, floor)).toBe(false); // not a whole window yet
    expect(belowSpeed([[0, 0]], 10_000, 9_000, floor)).toBe(true);
    expect(belowSpeed([[0, 0]], 10_000, 10_000, floor)).toBe(false);
    expect(belowSpeed([[0, 0], [5_000, 50_000]], 15_000, 55_000, floor)).toBe(true); // 5 kB in the last 10 s
    expect(belowSpeed([[0, 0]], 10_000, 0, { bytesPerSec: 0, windowMs: 10_000 })).toBe(false);
  });

  it("reads CONNECT targets, refusing ports outside 1-65535", () => {
    expect(parseConnectTarget("example.com:443")).toEqual({ host: "example.com", port: 443 });
    expect(parseConnectTarget("[2001:db8::1]:8443")).toEqual({ host: "2001:db8::1", port: 8443 });
    for (const bad of ["host:99999", "host:0", "host", ":443", "[nothex]:1", "a b:80", "user@host:80"]) expect(parseConnectTarget(bad)).toBeUndefined();
  });
});

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { copyFile, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { findYtDlp } from "../../src/tools/yt-dlp.ts";
import { Canary } from "../support/canary.ts";
import { CHAT, Harness, isUpload } from "../support/harness.ts";

/**
 * Files that are not what their names say: playlists and stream descriptions served as .mkv or
 * .mp4, or found by yt-dlp on a page, that would make ffmpeg open another chat's file or connect
 * past the guard. Debian's ffmpeg 5.1 and yt-dlp, as CI and the Docker image install them.
 */
const ytDlp = findYtDlp(undefined);

let dir: string;
let h: Harness | undefined;
let canary: Canary | undefined;

beforeAll(() => {
  if (!ytDlp) throw new Error("yt-dlp is not installed: apt-get install yt-dlp (.ci/run does)");
  dir = mkdtempSync(path.join(tmpdir(), "dlbot-hostile-"));
  execFileSync("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=3:size=320x240:rate=25", "-c:v", "libx264", "-preset", "ultrafast",
    "-pix_fmt", "yuv420p", "-movflags", "+faststart", path.join(dir, "movie.mp4")], { stdio: "pipe" });
  execFileSync("ffmpeg", ["-v", "error", "-y", "-i", path.join(dir, "movie.mp4"), "-c", "copy", "-f", "mpegts", path.join(dir, "movie.ts")], { stdio: "pipe" });
  execFileSync("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=3", "-c:a", "aac", "-movflags", "+faststart", path.join(dir, "audio.m4a")], { stdio: "pipe" });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await h?.close();
  h = undefined;
  await canary?.stop();
  canary = undefined;
});

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** An HLS media playlist with one segment. */
const playlist = (segment: string, extra = "") =>
  `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n${extra}#EXTINF:10,\n${segment}\n#EXT-X-ENDLIST\n`;

/** The chat's final word on the item whose request is `since` (a delivery or a failure). */
function finalWord(harness: Harness, since: number) {
  return harness.api.waitForCall(
    (c) => (c.method === "sendMessage" || c.method === "editMessageText") && c.params.chat_id === CHAT && /^(✅|❌)/.test(String(c.params.text)),
    { since, timeoutMs: 30_000 },
  );
}

/** Resolves once the canary saw anything (it keeps a list, not events: looked at every 50 ms). */
async function firstHit(c: Canary): Promise<void> {
  while (c.hits.length === 0) await new Promise((r) => setTimeout(r, 50));
}

describe("hostile media", () => {
  it("a .mkv or .mp4 whose body is an HLS playlist naming another item's file goes up as the bytes it is, never as that file", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    const other = path.join(h.dataDir, "downloads", "99", "movie.mp4");
    const body = Buffer.from(playlist(`file://${other}`));
    const mkv = h.files.addFile("/x.mkv", body, { contentType: "video/x-matroska" });
    const mp4 = h.files.addFile("/y.mp4", body, { contentType: "video/mp4" });
    await h.start();
    // Another item's video, where the bot keeps downloads (placed after the start, which clears
    // folders of no item).
    await mkdir(path.dirname(other), { recursive: true });
    await copyFile(path.join(dir, "movie.mp4"), other);
    const otherSha = sha256(readFileSync(other));
    for (const link of [mkv, mp4]) {
      const since = h.api.nextSeq;
      h.send(`/download ${link.url}`);
      expect(String((await finalWord(h, since)).params.text)).toMatch(/^✅/);
    }
    const uploads = h.api.calls.filter((c) => isUpload(c));
    // Each link once, as a document holding exactly what was served; no thumbnail either (a frame
    // of the other file would show it).
    expect(uploads.map((u) => u.method)).toEqual(["sendDocument", "sendDocument"]);
    for (const upload of uploads) {
      expect(upload.files.map((f) => f.sha256)).toEqual([sha256(body)]);
      expect(upload.files.some((f) => f.sha256 === otherSha)).toBe(false);
    }
    expect(mkv.sha256).toBe(sha256(body));
  });

  it("yt-dlp's merge of a video that is an HLS playlist naming another item's file carries none of its bytes", { timeout: 60_000 }, async () => {
    h = await Harness.create({ retryDelaysMs: [] });
    const other = path.join(h.dataDir, "downloads", "99", "movie.ts");
    // A DASH manifest with a video and an audio file: yt-dlp downloads both, then ffmpeg merges them.
    h.files.addFile("/d/video.mp4", Buffer.from(playlist(`file://${other}`)), { contentType: "video/mp4" });
    h.files.addFile("/d/audio.m4a", readFileSync(path.join(dir, "audio.m4a")), { contentType: "audio/mp4" });
    h.files.addFile(
      "/d/show.mpd",
      Buffer.from(
        `<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT3S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">` +
          `<Period><AdaptationSet mimeType="video/mp4"><Representation id="v" codecs="avc1.64000d" bandwidth="300000" width="320" height="240"><BaseURL>video.mp4</BaseURL></Representation></AdaptationSet>` +
          `<AdaptationSet mimeType="audio/mp4"><Representation id="a" codecs="mp4a.40.2" bandwidth="64000"><BaseURL>audio.m4a</BaseURL></Representation></AdaptationSet></Period></MPD>`,
      ),
      { contentType: "application/dash+xml" },
    );
    h.files.addHtml("/embed/show.html", `<html><head><title>Show</title></head><body><video src="/d/show.mpd"></video></body></html>`);
    const page = h.files.addHtml(
      "/watch/show.html",
      `<html><head><title>Show</title><meta name="twitter:card" content="player"><meta name="twitter:player" content="${h.files.baseUrl}/embed/show.html"></head><body></body></html>`,
    );
    await h.start();
    // Another item's video, as MPEG-TS (what ffmpeg's HLS reader joins without a fuss), placed
    // after the start, which clears folders of no item.
    await mkdir(path.dirname(other), { recursive: true });
    await copyFile(path.join(dir, "movie.ts"), other);
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    await finalWord(h, since);
    // yt-dlp fetched both parts: the merge was reached.
    expect(h.files.requests.filter((r) => r.path === "/d/video.mp4" || r.path === "/d/audio.m4a").map((r) => r.path).sort()).toEqual(["/d/audio.m4a", "/d/video.mp4"]);
    // Nothing went up with a picture in it: the only video about is the other item's.
    for (const file of h.delivered()) {
      const streams = execFileSync("ffprobe", ["-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", file.path]).toString();
      expect(streams).not.toMatch(/video/);
    }
  });

  it("ffprobe, ffmpeg and yt-dlp's ffmpeg reach nothing past the guard: httpproxy://, tcp:// and udp:// (an SDP)", { timeout: 90_000 }, async () => {
    canary = await Canary.start();
    h = await Harness.create({ allowPrivateNetworks: false, retryDelaysMs: [] });
    const c = canary;
    // SAMPLE-AES is what yt-dlp's own HLS reader leaves to ffmpeg: the case that reached ffmpeg.
    const sampleAes = '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="key.bin",KEYFORMAT="identity"\n';
    const sdp = `v=0\no=- 0 0 IN IP4 ${c.host}\ns=x\nc=IN IP4 ${c.host}\nt=0 0\nm=video ${c.udpPort + 1} RTP/AVP 96\na=rtpmap:96 H264/90000\n`;
    h.files.addFile("/s/sdp.ts", Buffer.from(sdp), { contentType: "video/mp2t" });
    const streams = {
      proxy: playlist(`httpproxy://${c.host}:${c.tcpPort}/k.ts`, sampleAes),
      tcp: playlist(`tcp://${c.host}:${c.tcpPort}/k.ts`, sampleAes),
      sdp: playlist(`${h.files.baseUrl}/s/sdp.ts`, sampleAes),
    };
    // The same bodies served as media files: the bot's own ffprobe and ffmpeg read them.
    const direct = [
      h.files.addFile("/f/proxy.mp4", Buffer.from(streams.proxy), { contentType: "video/mp4" }).url,
      h.files.addFile("/f/tcp.mkv", Buffer.from(streams.tcp), { contentType: "video/x-matroska" }).url,
      h.files.addFile("/f/sdp.mkv", Buffer.from(sdp), { contentType: "video/x-matroska" }).url,
    ];
    const pages: string[] = [];
    for (const [name, text] of Object.entries(streams)) {
      h.files.addFile(`/s/${name}.m3u8`, Buffer.from(text), { contentType: "application/vnd.apple.mpegurl" });
      h.files.addHtml(`/embed/${name}.html`, `<html><head><title>${name}</title></head><body><video src="/s/${name}.m3u8"></video></body></html>`);
      pages.push(
        h.files.addHtml(
          `/watch/${name}.html`,
          `<html><head><title>${name}</title><meta name="twitter:card" content="player"><meta name="twitter:player" content="${h.files.baseUrl}/embed/${name}.html"></head><body></body></html>`,
        ),
      );
    }
    // Only the pages' own server is trusted; the canary's 127.0.0.2 is not.
    await h.start({ trustedAddresses: ["127.0.0.1"] });
    for (const link of direct) {
      const since = h.api.nextSeq;
      h.send(`/download ${link}`);
      await Promise.race([finalWord(h, since), firstHit(c)]);
      expect(c.hits).toEqual([]);
    }
    // Each went up as the file it is.
    expect(h.uploads().map((u) => u.method)).toEqual(["sendDocument", "sendDocument", "sendDocument"]);
    const before = h.api.nextSeq;
    for (const page of pages) {
      const since = h.api.nextSeq;
      h.send(`/download ${page}`);
      // A tool that reached the canary may well hang there: its hit ends the wait too.
      await Promise.race([finalWord(h, since), firstHit(c)]);
      expect(c.hits).toEqual([]);
      // yt-dlp did read the stream's playlist (the test reached the point that matters).
      expect(h.files.requests.some((r) => r.path === `/s/${path.basename(new URL(page).pathname, ".html")}.m3u8`)).toBe(true);
    }
    expect(c.hits).toEqual([]);
    expect(h.uploads().filter((u) => u.seq >= before)).toEqual([]);
  });
});

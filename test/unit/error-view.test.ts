import { describe, expect, it } from "vitest";
import { describeLastError, describeReason } from "../../src/bot/views/error-view.ts";
import type { ErrorReason, ErrorReasonKind } from "../../src/errors.ts";

const KB = 1024;
const MB = 1024 * KB;
const GB = 1024 * MB;

/**
 * One reason of every kind with the sentence the chat shows for it (the sentences the engine made
 * itself before reasons, word for word). A mapped type: a new kind does not compile until it is here.
 */
const SENTENCES: { [K in ErrorReasonKind]: [Extract<ErrorReason, { kind: K }>, string] } = {
  unexpected: [{ kind: "unexpected" }, "an unexpected error happened; it will be retried (details are in the bot's log)"],
  stopped: [{ kind: "stopped", stop: "shutdown" }, "stopped: shutdown"],
  legacy: [{ kind: "legacy", text: "the server answered <404>" }, "the server answered <404>"],
  tooLarge: [{ kind: "tooLarge", size: 3 * GB, limit: 2 * GB }, "the file is 3.0 GB, over this bot's limit of 2.0 GB."],
  overUploadLimit: [{ kind: "overUploadLimit", size: 60 * MB, limit: 50 * MB }, "the file is 60.0 MB, over the upload limit of 50.0 MB, and splitLargeFiles is off."],
  diskFull: [{ kind: "diskFull" }, "the bot's disk is full; the download is tried again later, once there is space (free some on the server)."],
  diskNoRoom: [{ kind: "diskNoRoom", needed: 116 * MB, free: 20 * MB }, "not enough free disk space: the file needs 116 MB and 20.0 MB is free."],
  diskReserve: [
    { kind: "diskReserve", free: 10 * MB, reserve: 16 * MB },
    "not enough free disk space: the bot stopped with 10.0 MB free, keeping 16.0 MB for its database; free some space on the server.",
  ],
  fileMissing: [{ kind: "fileMissing" }, "the downloaded file disappeared from the bot's disk; it will be downloaded again."],
  redirectNotHttp: [{ kind: "redirectNotHttp", protocol: "ftp" }, "the link redirected to a ftp URL; only http and https links can be downloaded."],
  privateNetwork: [
    { kind: "privateNetwork", host: "nas.lan", address: "192.168.1.2" },
    "nas.lan (192.168.1.2) is on a private or local network, which this bot does not fetch from; send a public URL.",
  ],
  httpStatus: [{ kind: "httpStatus", host: "files.example", status: 404, permanent: true }, "files.example: the file is not there (HTTP 404); check the link and send it again."],
  hostNotFound: [{ kind: "hostNotFound", host: "nowhere.example" }, "nowhere.example could not be found; check the link."],
  redirectLoop: [{ kind: "redirectLoop", host: "loop.example" }, "loop.example redirects in a loop; the link cannot be downloaded."],
  hostTimedOut: [{ kind: "hostTimedOut", host: "slow.example" }, "slow.example did not answer in time."],
  connectionFailed: [{ kind: "connectionFailed", host: "files.example", code: "ECONNRESET" }, "the connection to files.example failed (ECONNRESET)."],
  transferFailed: [{ kind: "transferFailed", host: "files.example", code: "EPIPE" }, "the transfer from files.example failed (EPIPE)."],
  stalled: [{ kind: "stalled", seconds: 60 }, "the server sent no data for 60 s."],
  tooSlow: [{ kind: "tooSlow", bytesPerSec: 4000, seconds: 2 }, "the server sent less than 3.9 KB/s for 2 s."],
  wrongRange: [{ kind: "wrongRange" }, "the server answered a different range than asked"],
  transferCut: [{ kind: "transferCut", done: 100, total: 200 }, "the transfer ended at 100 of 200 bytes"],
  partCut: [{ kind: "partCut", at: 150, end: 199 }, "a part ended at 150 of 199 bytes"],
  partsIncomplete: [{ kind: "partsIncomplete", done: 190, total: 200 }, "the parts hold 190 of 200 bytes"],
  oneConnectionParts: [{ kind: "oneConnectionParts" }, "a single connection asked for parts"],
  noHandler: [{ kind: "noHandler", sourceKind: "torrent" }, "torrent links are not supported by this bot yet."],
  tooManyHandoffs: [{ kind: "tooManyHandoffs" }, "the link could not be handled."],
  interrupted: [{ kind: "interrupted", attempt: 1, attempts: 3 }, "the bot stopped while working on this download."],
  notAFile: [{ kind: "notAFile" }, "it is a web page, not a file."],
  noMedia: [{ kind: "noMedia" }, "no downloadable media was found on the page (no video, audio or file links)."],
  scriptedPlayer: [
    { kind: "scriptedPlayer" },
    "the page has a player whose source is set by a script the bot could not read, and no video, audio or file links.",
  ],
  pageTooLarge: [{ kind: "pageTooLarge", limit: 5 * MB }, "the page is larger than 5.0 MB, too large to be searched for media."],
  sitePageTimeout: [{ kind: "sitePageTimeout", seconds: 30 }, "the page did not answer yt-dlp within 30 s; it will be tried again."],
  siteLiveStream: [{ kind: "siteLiveStream" }, "the page shows a live stream, which this bot does not record; send the link again once it is over."],
  siteNoFittingFormat: [{ kind: "siteNoFittingFormat" }, "yt-dlp found the page's video but no format of it fits the bot's size limit (maxFileSizeBytes)."],
  siteVideoTooLarge: [{ kind: "siteVideoTooLarge", limit: 2 * GB }, "the video is larger than this bot's limit of 2.0 GB (maxFileSizeBytes)."],
  ytDlpFailed: [{ kind: "ytDlpFailed" }, "yt-dlp could not download the page's video (details are in the bot's log)."],
  feedUnreadable: [{ kind: "feedUnreadable" }, "it is not an RSS or Atom feed that can be read (invalid XML, or no feed in it)."],
  nothingToWatch: [{ kind: "nothingToWatch" }, "there is no feed, playlist or list of files there to watch."],
  noAudioTrack: [{ kind: "noAudioTrack" }, "the video has no sound, so there is no audio to send; /download sends the video itself."],
  audioExtractFailed: [{ kind: "audioExtractFailed" }, "ffmpeg could not take the audio out of the download (details are in the bot's log); /download sends the file as it is."],
  audioNeedsFfmpeg: [{ kind: "audioNeedsFfmpeg" }, "taking the audio out of a video needs ffmpeg, which this bot does not have; /download sends the file as it is."],
  streamBadAddress: [{ kind: "streamBadAddress" }, "the stream's playlist names an address that is not valid; the stream cannot be downloaded."],
  streamNotHttp: [{ kind: "streamNotHttp", protocol: "file" }, "the stream's playlist points at a file address; only http and https streams are downloaded."],
  streamLive: [{ kind: "streamLive" }, "this is a live stream, which the bot does not record; send the link of a recording instead."],
  streamEncrypted: [{ kind: "streamEncrypted" }, "the stream is DRM-protected (encrypted segments), which the bot cannot download."],
  streamDrm: [{ kind: "streamDrm" }, "the stream is DRM-protected, which the bot cannot download."],
  streamEmptyPlaylist: [{ kind: "streamEmptyPlaylist" }, "the stream's playlist lists no segments."],
  streamNoSegments: [{ kind: "streamNoSegments" }, "the stream's manifest lists no segments."],
  streamTooManySegments: [{ kind: "streamTooManySegments", count: 60000, max: 50000 }, "the stream lists 60000 segments, more than the bot fetches (50000)."],
  streamUnreadable: [{ kind: "streamUnreadable" }, "the stream's manifest could not be read."],
  streamNoVariants: [{ kind: "streamNoVariants" }, "the stream's playlist lists nothing to download."],
  streamNoRepresentations: [{ kind: "streamNoRepresentations" }, "the stream's manifest lists nothing to download."],
  streamBadLayout: [{ kind: "streamBadLayout" }, "the stream's playlists are not laid out as HLS requires."],
  streamTooLarge: [{ kind: "streamTooLarge", limit: 2 * GB }, "even the stream's smallest variant is larger than this bot's limit of 2.0 GB."],
  streamPlaylistTooLarge: [{ kind: "streamPlaylistTooLarge" }, "the stream's playlist is too large to be one."],
  streamPlaylistTimedOut: [{ kind: "streamPlaylistTimedOut" }, "the stream's playlist did not arrive in time."],
  streamBadKey: [{ kind: "streamBadKey" }, "the stream's decryption key is not a valid AES-128 key."],
  streamKeyTimedOut: [{ kind: "streamKeyTimedOut" }, "the stream's decryption key did not arrive in time."],
  streamWrongRange: [{ kind: "streamWrongRange" }, "the stream's server sent the wrong part of a segment."],
  streamSegmentCut: [{ kind: "streamSegmentCut" }, "a segment of the stream ended early."],
  streamUndecryptable: [{ kind: "streamUndecryptable" }, "a segment of the stream could not be decrypted with its key."],
  streamUnknownFormat: [{ kind: "streamUnknownFormat" }, "the stream's segments are not in a format the bot knows (MPEG-TS or MP4)."],
  streamJoinFailed: [{ kind: "streamJoinFailed" }, "the stream's segments could not be joined into a video (details are in the bot's log)."],
  torrentLinkIsPage: [{ kind: "torrentLinkIsPage" }, "the link leads to a web page, not a .torrent file."],
  torrentLinkTooLarge: [{ kind: "torrentLinkTooLarge", limit: 10 * MB }, "the link serves over 10.0 MB, too much for a .torrent file."],
  torrentFilesTooLarge: [
    { kind: "torrentFilesTooLarge", files: [{ path: "x.iso", size: 5000 }], count: 1, limit: KB },
    "its file is over this bot's limit of 1.0 KB: x.iso (4.9 KB).",
  ],
  torrentTooManyFiles: [{ kind: "torrentTooManyFiles", count: 250, max: 200 }, "this torrent holds 250 files, more than this bot takes (200); send a torrent with fewer files."],
  invalidMagnet: [
    { kind: "invalidMagnet", problem: "v2Only" },
    "that magnet link is not valid (BitTorrent v2-only magnets (urn:btmh) are not supported); it should look like magnet:?xt=urn:btih:… with a 40-character info hash.",
  ],
  invalidTorrentFile: [{ kind: "invalidTorrentFile" }, "that is not a valid .torrent file."],
  torrentStalled: [{ kind: "torrentStalled", ms: 180_000, peers: 1 }, "no torrent data arrived for 3m 0s (1 peer connected)."],
  deadTorrent: [{ kind: "deadTorrent", ms: 180_000, peers: 0 }, "dead torrent: no peers found in 3m 0s, so its metadata never arrived."],
  torrentClosed: [{ kind: "torrentClosed" }, "the torrent client stopped; the download will be retried."],
  torrentEmpty: [{ kind: "torrentEmpty" }, "the torrent has only empty files; nothing to send."],
  torrentClientFailed: [{ kind: "torrentClientFailed", detail: "Invalid torrent identifier" }, "the torrent client failed (Invalid torrent identifier)."],
  uploadTooBig: [{ kind: "uploadTooBig" }, "Telegram refused the file as too large for this bot; a local Bot API server raises the limit to 2000 MB."],
  uploadRefused: [{ kind: "uploadRefused", description: "Bad Request: file is empty" }, "Telegram refused the upload (Bad Request: file is empty)."],
  uploadFailed: [{ kind: "uploadFailed", connection: true }, "the connection to Telegram failed; it will be retried from the file on disk."],
  telegramNoFile: [{ kind: "telegramNoFile" }, "Telegram did not hand out the file; send it again."],
  telegramFileUnavailable: [{ kind: "telegramFileUnavailable" }, "the file could not be fetched from Telegram; send it again in a moment."],
  telegramFileTooBig: [{ kind: "telegramFileTooBig" }, "Telegram does not hand out files that large to bots (over 20 MB)."],
  telegramFileRefused: [{ kind: "telegramFileRefused", description: "Bad Request: invalid file_id" }, "Telegram would not hand out the file (Bad Request: invalid file_id); send the .torrent file again."],
  torrentFileTooLarge: [{ kind: "torrentFileTooLarge", size: 2 * 1024 * MB, limit: 10 * MB }, "2.0 GB is too much for a .torrent file."],
  localFileUnreadable: [{ kind: "localFileUnreadable" }, "the file could not be read from the local Bot API server; send it again."],
};

describe("describeReason: the sentence of every reason", () => {
  it.each(Object.entries(SENTENCES))("words %s", (kind, [reason, sentence]) => {
    expect(reason.kind).toBe(kind);
    expect(describeReason(reason)).toBe(sentence);
  });

  it("words the variants a kind's data makes", () => {
    const cases: Array<[ErrorReason, string]> = [
      [{ kind: "httpStatus", host: "files.example", status: 503, permanent: false }, "files.example: the server answered HTTP 503."],
      [{ kind: "httpStatus", host: "files.example", status: 403, permanent: true }, "files.example: the server refused access (HTTP 403); check the link and send it again."],
      [{ kind: "httpStatus", host: null, status: 410, permanent: true }, "the server: the file is not there (HTTP 410); check the link and send it again."],
      [{ kind: "transferFailed", host: "files.example", code: null }, "the transfer from files.example failed."],
      [{ kind: "connectionFailed", host: null, code: "ECONNREFUSED" }, "the connection to the server failed (ECONNREFUSED)."],
      [{ kind: "privateNetwork", host: "127.0.0.1" }, "127.0.0.1 is on a private or local network, which this bot does not fetch from; send a public URL."],
      [{ kind: "privateNetwork", host: "10.0.0.1", address: "10.0.0.1" }, "10.0.0.1 is on a private or local network, which this bot does not fetch from; send a public URL."],
      [{ kind: "noHandler", sourceKind: "crawler" }, "web pages are not supported by this bot yet."],
      [{ kind: "noHandler", sourceKind: "stream" }, "stream links (HLS, DASH) are not supported by this bot yet."],
      [{ kind: "noHandler", sourceKind: "site" }, "video site links are not supported by this bot yet."],
      [
        { kind: "interrupted", attempt: 3, attempts: 3 },
        "the bot stopped while working on this download (attempt 3 of 3); send it again with /retry if it should work.",
      ],
      [{ kind: "streamTooManySegments", count: null, max: 50000 }, "the stream lists countless segments, more than the bot fetches (50000)."],
      [{ kind: "torrentStalled", ms: 60_000, peers: 4 }, "no torrent data arrived for 1m 0s (4 peers connected)."],
      [{ kind: "deadTorrent", ms: 45_000, peers: 1 }, "dead torrent: 1 peer found, but none sent the metadata in 45s."],
      [{ kind: "deadTorrent", ms: 45_000, peers: 3 }, "dead torrent: 3 peers found, but none sent the metadata in 45s."],
      [{ kind: "invalidMagnet", problem: "notMagnet" }, "that magnet link is not valid (it does not start with magnet:?); it should look like magnet:?xt=urn:btih:… with a 40-character info hash."],
      [{ kind: "invalidMagnet", problem: "badEncoding" }, "that magnet link is not valid (bad %-encoding); it should look like magnet:?xt=urn:btih:… with a 40-character info hash."],
      [{ kind: "uploadFailed", connection: false }, "the upload failed; it will be retried from the file on disk."],
      [{ kind: "torrentFileTooLarge", size: null, limit: 64 * MB }, "the file is over 64.0 MB, too much for a .torrent file."],
      [{ kind: "invalidMagnet", problem: "noInfoHash" }, "that magnet link is not valid (no BitTorrent info hash); it should look like magnet:?xt=urn:btih:… with a 40-character info hash."],
    ];
    for (const [reason, sentence] of cases) expect(describeReason(reason)).toBe(sentence);
  });

  it("names the first ten files over the limit and counts the rest", () => {
    const files = Array.from({ length: 10 }, (_, i) => ({ path: `big/${i}.iso`, size: 2 * KB }));
    expect(describeReason({ kind: "torrentFilesTooLarge", files, count: 12, limit: KB })).toBe(
      "all 12 files are over this bot's limit of 1.0 KB: " + files.map((f) => `${f.path} (2.0 KB)`).join(", ") + ", and 2 more.",
    );
  });

  it("words a stored failure, or says what stands for none", () => {
    expect(describeLastError({ kind: "stalled", seconds: 5 }, "unknown error")).toBe("the server sent no data for 5 s.");
    expect(describeLastError(null, "unknown error")).toBe("unknown error");
  });

  it("words a kind it does not know (a row a newer version wrote) instead of failing the message", () => {
    expect(describeReason({ kind: "fromTheFuture" } as unknown as ErrorReason)).toBe("the download failed.");
  });
});

import type { ErrorReason, NamedSize } from "../../errors.ts";
import type { SourceKind } from "../../items/item.ts";
import { formatBytes, formatDuration, listFilesWithSizes } from "../../text/format.ts";

/** What a person calls the links each source takes (a source missing from this bot: noHandler). */
const LINKS_OF: Readonly<Record<SourceKind, string>> = {
  direct: "direct links",
  torrent: "torrent links",
  crawler: "web pages",
  stream: "stream links (HLS, DASH)",
  site: "video site links",
};

/** `kind` comes from stored data, as any string: one of ours is named, another as it is. */
function linksOf(kind: string): string {
  return Object.hasOwn(LINKS_OF, kind) ? LINKS_OF[kind as SourceKind] : `${kind} links`;
}

/**
 * The sentence a person reads for each reason of a failure (what happened, and what to do when
 * there is something): plain text, escaped by whoever puts it into HTML. Pure. The switch has a
 * case for every kind: TypeScript refuses a new kind until it is worded here.
 *
 * @example
 * describeReason({ kind: "stalled", seconds: 60 }) // → "the server sent no data for 60 s."
 */
export function describeReason(reason: ErrorReason): string {
  switch (reason.kind) {
    case "unexpected":
      return "an unexpected error happened; it will be retried (details are in the bot's log)";
    case "stopped":
      return `stopped: ${reason.stop}`;
    case "legacy":
      return reason.text;
    // The file and the disk.
    case "tooLarge":
      return `the file is ${formatBytes(reason.size)}, over this bot's limit of ${formatBytes(reason.limit)}.`;
    case "overUploadLimit":
      return `the file is ${formatBytes(reason.size)}, over the upload limit of ${formatBytes(reason.limit)}, and splitLargeFiles is off.`;
    case "diskFull":
      return "the bot's disk is full; the download is tried again later, once there is space (free some on the server).";
    case "diskNoRoom":
      return `not enough free disk space: the file needs ${formatBytes(reason.needed)} and ${formatBytes(reason.free)} is free.`;
    case "diskReserve":
      return `not enough free disk space: the bot stopped with ${formatBytes(reason.free)} free, keeping ${formatBytes(reason.reserve)} for its database; free some space on the server.`;
    case "fileMissing":
      return "the downloaded file disappeared from the bot's disk; it will be downloaded again.";
    // HTTP and the network.
    case "redirectNotHttp":
      return `the link redirected to a ${reason.protocol} URL; only http and https links can be downloaded.`;
    case "privateNetwork": {
      const where = reason.address && reason.address !== reason.host ? `${reason.host} (${reason.address})` : reason.host;
      return `${where} is on a private or local network, which this bot does not fetch from; send a public URL.`;
    }
    case "httpStatus": {
      const what = httpAnswer(reason.status);
      return reason.permanent ? `${host(reason.host)}: ${what}; check the link and send it again.` : `${host(reason.host)}: ${what}.`;
    }
    case "hostNotFound":
      return `${host(reason.host)} could not be found; check the link.`;
    case "redirectLoop":
      return `${host(reason.host)} redirects in a loop; the link cannot be downloaded.`;
    case "hostTimedOut":
      return `${host(reason.host)} did not answer in time.`;
    case "connectionFailed":
      return `the connection to ${host(reason.host)} failed (${reason.code}).`;
    case "transferFailed":
      return `the transfer from ${host(reason.host)} failed${reason.code === null ? "" : ` (${reason.code})`}.`;
    case "stalled":
      return `the server sent no data for ${reason.seconds} s.`;
    case "tooSlow":
      return `the server sent less than ${formatBytes(reason.bytesPerSec)}/s for ${reason.seconds} s.`;
    case "wrongRange":
      return "the server answered a different range than asked";
    case "transferCut":
      return `the transfer ended at ${reason.done} of ${reason.total} bytes`;
    case "partCut":
      return `a part ended at ${reason.at} of ${reason.end} bytes`;
    case "partsIncomplete":
      return `the parts hold ${reason.done} of ${reason.total} bytes`;
    case "oneConnectionParts":
      return "a single connection asked for parts";
    // The queue.
    case "noHandler":
      return `${linksOf(reason.sourceKind)} are not supported by this bot yet.`;
    case "tooManyHandoffs":
      return "the link could not be handled.";
    case "interrupted":
      return reason.attempt >= reason.attempts
        ? `the bot stopped while working on this download (attempt ${reason.attempt} of ${reason.attempts}); send it again with /retry if it should work.`
        : "the bot stopped while working on this download.";
    // Pages and sites.
    case "notAFile":
      return "it is a web page, not a file.";
    case "noMedia":
      return "no downloadable media was found on the page (no video, audio or file links).";
    case "scriptedPlayer":
      return "the page has a player whose source is set by a script the bot could not read, and no video, audio or file links.";
    case "pageTooLarge":
      return `the page is larger than ${formatBytes(reason.limit)}, too large to be searched for media.`;
    case "sitePageTimeout":
      return `the page did not answer yt-dlp within ${reason.seconds} s; it will be tried again.`;
    case "siteLiveStream":
      return "the page shows a live stream, which this bot does not record; send the link again once it is over.";
    case "siteNoFittingFormat":
      return "yt-dlp found the page's video but no format of it fits the bot's size limit (maxFileSizeBytes).";
    case "siteVideoTooLarge":
      return `the video is larger than this bot's limit of ${formatBytes(reason.limit)} (maxFileSizeBytes).`;
    case "ytDlpFailed":
      return "yt-dlp could not download the page's video (details are in the bot's log).";
    // Subscriptions.
    case "feedUnreadable":
      return "it is not an RSS or Atom feed that can be read (invalid XML, or no feed in it).";
    case "nothingToWatch":
      return "there is no feed, playlist or list of files there to watch.";
    // Only the audio.
    case "noAudioTrack":
      return "the video has no sound, so there is no audio to send; /download sends the video itself.";
    case "audioExtractFailed":
      return "ffmpeg could not take the audio out of the download (details are in the bot's log); /download sends the file as it is.";
    case "audioNeedsFfmpeg":
      return "taking the audio out of a video needs ffmpeg, which this bot does not have; /download sends the file as it is.";
    // Streams.
    case "streamBadAddress":
      return "the stream's playlist names an address that is not valid; the stream cannot be downloaded.";
    case "streamNotHttp":
      return `the stream's playlist points at a ${reason.protocol} address; only http and https streams are downloaded.`;
    case "streamLive":
      return "this is a live stream, which the bot does not record; send the link of a recording instead.";
    case "streamEncrypted":
      return "the stream is DRM-protected (encrypted segments), which the bot cannot download.";
    case "streamDrm":
      return "the stream is DRM-protected, which the bot cannot download.";
    case "streamEmptyPlaylist":
      return "the stream's playlist lists no segments.";
    case "streamNoSegments":
      return "the stream's manifest lists no segments.";
    case "streamTooManySegments":
      return `the stream lists ${reason.count ?? "countless"} segments, more than the bot fetches (${reason.max}).`;
    case "streamUnreadable":
      return "the stream's manifest could not be read.";
    case "streamNoVariants":
      return "the stream's playlist lists nothing to download.";
    case "streamNoRepresentations":
      return "the stream's manifest lists nothing to download.";
    case "streamBadLayout":
      return "the stream's playlists are not laid out as HLS requires.";
    case "streamTooLarge":
      return `even the stream's smallest variant is larger than this bot's limit of ${formatBytes(reason.limit)}.`;
    case "streamPlaylistTooLarge":
      return "the stream's playlist is too large to be one.";
    case "streamPlaylistTimedOut":
      return "the stream's playlist did not arrive in time.";
    case "streamBadKey":
      return "the stream's decryption key is not a valid AES-128 key.";
    case "streamKeyTimedOut":
      return "the stream's decryption key did not arrive in time.";
    case "streamWrongRange":
      return "the stream's server sent the wrong part of a segment.";
    case "streamSegmentCut":
      return "a segment of the stream ended early.";
    case "streamUndecryptable":
      return "a segment of the stream could not be decrypted with its key.";
    case "streamUnknownFormat":
      return "the stream's segments are not in a format the bot knows (MPEG-TS or MP4).";
    case "streamJoinFailed":
      return "the stream's segments could not be joined into a video (details are in the bot's log).";
    // Torrents.
    case "torrentLinkIsPage":
      return "the link leads to a web page, not a .torrent file.";
    case "torrentLinkTooLarge":
      return `the link serves over ${formatBytes(reason.limit)}, too much for a .torrent file.`;
    case "torrentFilesTooLarge": {
      const what = reason.count === 1 ? "its file is" : `all ${reason.count} files are`;
      return `${what} over this bot's limit of ${formatBytes(reason.limit)}: ${namedSizes(reason.files, reason.count)}.`;
    }
    case "torrentTooManyFiles":
      return `this torrent holds ${reason.count} files, more than this bot takes (${reason.max}); send a torrent with fewer files.`;
    case "invalidMagnet":
      return `that magnet link is not valid (${MAGNET_PROBLEMS[reason.problem]}); it should look like magnet:?xt=urn:btih:… with a 40-character info hash.`;
    case "invalidTorrentFile":
      return "that is not a valid .torrent file.";
    case "torrentStalled":
      return `no torrent data arrived for ${formatDuration(reason.ms)} (${peers(reason.peers)} connected).`;
    case "deadTorrent":
      return reason.peers === 0
        ? `dead torrent: no peers found in ${formatDuration(reason.ms)}, so its metadata never arrived.`
        : `dead torrent: ${peers(reason.peers)} found, but none sent the metadata in ${formatDuration(reason.ms)}.`;
    case "torrentClosed":
      return "the torrent client stopped; the download will be retried.";
    case "torrentEmpty":
      return "the torrent has only empty files; nothing to send.";
    case "torrentClientFailed":
      return `the torrent client failed (${reason.detail}).`;
    // Telegram's side.
    case "uploadTooBig":
      return "Telegram refused the file as too large for this bot; a local Bot API server raises the limit to 2000 MB.";
    case "uploadRefused":
      return `Telegram refused the upload (${reason.description}).`;
    case "uploadFailed":
      return `${reason.connection ? "the connection to Telegram failed" : "the upload failed"}; it will be retried from the file on disk.`;
    case "telegramNoFile":
      return "Telegram did not hand out the file; send it again.";
    case "telegramFileUnavailable":
      return "the file could not be fetched from Telegram; send it again in a moment.";
    case "telegramFileTooBig":
      return "Telegram does not hand out files that large to bots (over 20 MB).";
    case "telegramFileRefused":
      return `Telegram would not hand out the file (${reason.description}); send the .torrent file again.`;
    case "torrentFileTooLarge":
      return reason.size === null ? `the file is over ${formatBytes(reason.limit)}, too much for a .torrent file.` : `${formatBytes(reason.size)} is too much for a .torrent file.`;
    case "localFileUnreadable":
      return "the file could not be read from the local Bot API server; send it again.";
    default:
      return unknownReason(reason);
  }
}

/** An item's stored failure, or the line for one that has none. */
export function describeLastError(reason: ErrorReason | null, otherwise: string): string {
  return reason ? describeReason(reason) : otherwise;
}

const MAGNET_PROBLEMS = {
  notMagnet: "it does not start with magnet:?",
  v2Only: "BitTorrent v2-only magnets (urn:btmh) are not supported",
  badEncoding: "bad %-encoding",
  noInfoHash: "no BitTorrent info hash",
} satisfies Record<Extract<ErrorReason, { kind: "invalidMagnet" }>["problem"], string>;

const host = (name: string | null) => name ?? "the server";
const peers = (n: number) => (n === 1 ? "1 peer" : `${n} peers`);

function httpAnswer(status: number): string {
  if (status === 404 || status === 410) return `the file is not there (HTTP ${status})`;
  if (status === 401 || status === 403) return `the server refused access (HTTP ${status})`;
  return `the server answered HTTP ${status}`;
}

function namedSizes(files: readonly NamedSize[], count: number): string {
  return listFilesWithSizes(
    files.map((f) => ({ path: f.path, length: f.size })),
    10,
    count,
  );
}

/**
 * TypeScript proves this is never called; at run time it words a kind this version does not know
 * (a row a newer version wrote) rather than break the message it is part of.
 */
function unknownReason(_reason: never): string {
  return "the download failed.";
}

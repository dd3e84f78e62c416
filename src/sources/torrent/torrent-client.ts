import dns from "node:dns";
import net from "node:net";
import type WebTorrent from "webtorrent";
import type { ClientOptions, PeerBlocklist, Torrent, Wire } from "webtorrent";
import type { Config } from "../../config.ts";
import type { Logger } from "../../logger.ts";
import { type AddressPolicy, type Resolver, isAllowedAddress } from "../../net/address-guard.ts";
import { settlesWithin } from "../../util/async.ts";
import { type TrackerDispatcher, createTrackerDispatcher } from "./tracker-http.ts";

/**
 * The one WebTorrent client of the process, shared by every torrent item (one listening port, one
 * DHT). It is created on first use, so a bot that never sees a torrent opens no port, and
 * destroyed by `destroy()` when the app stops.
 */

/**
 * Maps our config to webtorrent's options. Pure. `trackerHttp` is the dispatcher HTTP(S) trackers
 * are asked through (see tracker-http.ts).
 */
export function webTorrentOptions(torrent: Config["torrent"], trackerHttp?: TrackerDispatcher): ClientOptions {
  return {
    dht: torrent.dht,
    lsd: torrent.lsd,
    natUpnp: torrent.natTraversal,
    natPmp: torrent.natTraversal,
    // TCP only. With uTP on, webtorrent (2.8 and 3.0) dials every IPv4 peer over uTP first and falls back
    // to TCP only after three failed tries (about 21 s per peer); its uTP also stalls on lost
    // datagrams for a second at a time. Nearly every client accepts TCP.
    utp: false,
    // Web seeds (BEP 19) off: webtorrent fetches them with the global fetch and no dispatcher,
    // following redirects anywhere and reading each answer whole, and nothing outside it can
    // change that. The source also drops them from every torrent (and says so in the log).
    webSeeds: false,
    tracker: {
      // No WebRTC peers: they would come from ws:// trackers and connect without the peer check.
      wrtc: false,
      // bittorrent-tracker hands these to fetch as its `dispatcher`, for http: and https: trackers.
      ...(trackerHttp ? { proxyOpts: { httpAgent: trackerHttp, httpsAgent: trackerHttp } } : {}),
    },
  };
}

/**
 * Most 16 kB block requests kept open with one peer: 2 MB, a peer's full speed up to 20 MB/s at a
 * 100 ms round trip. webtorrent asks for a second's worth at the current speed, capped only by
 * the peer's own `reqq` (a webtorrent peer names none), and for every block that arrives it walks
 * all reserved pieces, allocating as it goes. Uncapped on loopback, thousands were open: the
 * young generation filled every 2-3 ms, buffers in flight were promoted, and the bot peaked near
 * 250 MB downloading a 200 MB torrent; capped, about 170 MB, as fast (bench/cases/torrent-memory.ts).
 */
export const MAX_REQUESTS_PER_PEER = 128;

/** Keeps at most `max` block requests open with each of the torrent's peers (see above). */
export function limitRequests(torrent: Torrent, max = MAX_REQUESTS_PER_PEER): void {
  torrent.on("wire", (wire: Wire) => {
    const clamp = () => {
      const shake = wire.peerExtendedHandshake as { reqq?: unknown } | null;
      // A hostile peer's handshake may decode to a number: replaced, not written to.
      if (typeof shake !== "object" || shake === null) {
        wire.peerExtendedHandshake = { reqq: max };
        return;
      }
      shake.reqq = typeof shake.reqq === "number" && shake.reqq > 0 ? Math.min(shake.reqq, max) : max;
    };
    clamp();
    // The peer's handshake, when it comes, replaces the object (and may name its own reqq).
    wire.on("extended", (ext: unknown) => {
      if (ext === "handshake") clamp();
    });
  });
}

/** Tracker URL schemes the client uses: ws(s):// ones need WebRTC, which is off. */
const TRACKER_SCHEMES = /^(https?|udp):\/\//i;

/**
 * The trackers a torrent is started with: the usable ones (http, https, udp), duplicates removed,
 * at most `max` of them in the torrent's order. Every one is looked up and announced to at once,
 * so a torrent listing thousands must not get them all. Pure.
 */
export function limitTrackers(urls: readonly string[], max: number): { kept: string[]; unusable: string[]; overLimit: number } {
  const usable: string[] = [];
  const unusable: string[] = [];
  for (const url of new Set(urls)) (TRACKER_SCHEMES.test(url) ? usable : unusable).push(url);
  return { kept: usable.slice(0, max), unusable, overLimit: Math.max(0, usable.length - max) };
}

/**
 * webtorrent asks its `blocked` set before every outgoing peer connection (tracker, DHT, LSD and
 * PEX peers, and magnet `x.pe` addresses). Its own `blocklist` option only knows IPv4 ranges, so
 * we hand it an object that asks our address guard instead: IPv6 and IPv4-mapped addresses too.
 */
export function peerBlocklist(policy: AddressPolicy): PeerBlocklist {
  return {
    contains(address: string): boolean {
      const host = address.replace(/^\[|\]$/g, "");
      return !net.isIP(host) || !isAllowedAddress(host, policy);
    },
  };
}

/**
 * Keeps the URLs (trackers, web seeds) whose host resolves only to allowed addresses right now.
 * webtorrent's tracker client and web-seed fetches do their own DNS, so this is a check at the
 * time the torrent is added, not on every connection (a name that changes its answer later is
 * not caught); the README says so.
 */
export async function filterReachableUrls(
  urls: readonly string[],
  policy: AddressPolicy,
  resolve: Resolver = (h) => dns.promises.lookup(h, { all: true }),
): Promise<{ kept: string[]; dropped: string[] }> {
  if (policy.allowPrivate) return { kept: [...urls], dropped: [] };
  const kept: string[] = [];
  const dropped: string[] = [];
  await Promise.all(
    urls.map(async (url, i) => {
      let ok = false;
      try {
        const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
        const addresses = net.isIP(host) ? [{ address: host }] : await resolve(host);
        ok = addresses.length > 0 && addresses.every((a) => isAllowedAddress(a.address, policy));
      } catch {
        ok = false;
      }
      (ok ? kept : dropped)[i] = url;
    }),
  );
  return { kept: kept.filter(Boolean), dropped: dropped.filter(Boolean) };
}

export interface TorrentClientOptions {
  torrent: Config["torrent"];
  policy: AddressPolicy;
  logger: Logger;
  /** DNS for tracker connections (tests give made-up names addresses). */
  resolve?: Resolver;
}

export class TorrentClientHolder {
  private client?: WebTorrent;
  /** A promise, so that two first callers share one. */
  private trackerHttp?: Promise<TrackerDispatcher>;

  constructor(private readonly options: TorrentClientOptions) {}

  /**
   * The shared client, created on first use. webtorrent is loaded then too: it is a third of the
   * bot's memory, and many bots never see a torrent.
   */
  async get(): Promise<WebTorrent> {
    if (this.client && !this.client.destroyed) return this.client;
    const { default: WebTorrentClient } = await import("webtorrent");
    // Checked again: another caller may have made it while the module loaded.
    if (this.client && !this.client.destroyed) return this.client;
    const { logger } = this.options;
    const trackerHttp = await (this.trackerHttp ??= createTrackerDispatcher({ policy: this.options.policy, resolve: this.options.resolve }));
    if (this.client && !this.client.destroyed) return this.client;
    const client = new WebTorrentClient(webTorrentOptions(this.options.torrent, trackerHttp));
    if (!this.options.policy.allowPrivate) client.blocked = peerBlocklist(this.options.policy);
    // A client-level error (a port that cannot be bound, a DHT failure) must not crash the bot;
    // the torrents in progress fail through their own handlers and the next one gets a new client.
    client.on("error", (error: unknown) => {
      logger.error({ err: error instanceof Error ? error.message : String(error) }, "torrent client error");
    });
    this.client = client;
    logger.info(
      { dht: this.options.torrent.dht, lsd: this.options.torrent.lsd, natTraversal: this.options.torrent.natTraversal },
      "torrent client started",
    );
    return client;
  }

  /** Destroys the client (every torrent in it, its port, its DHT). Files on disk stay. */
  async destroy(timeoutMs = 3000): Promise<void> {
    const client = this.client;
    const trackerHttp = this.trackerHttp;
    this.client = undefined;
    this.trackerHttp = undefined;
    if (client && !client.destroyed) {
      await settlesWithin(new Promise<void>((resolve) => client.destroy(() => resolve())), timeoutMs);
    }
    // After the client: its trackers' last announces ("stopped") still go out through it.
    await trackerHttp?.then((dispatcher) => dispatcher.close()).catch(() => {});
  }
}

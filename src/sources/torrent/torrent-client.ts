import dns from "node:dns";
import net from "node:net";
import type WebTorrent from "webtorrent";
import type { ClientOptions, PeerBlocklist } from "webtorrent";
import type { Config } from "../../config.ts";
import type { Logger } from "../../logger.ts";
import { type AddressPolicy, type Resolver, isAllowedAddress } from "../../net/address-guard.ts";

/**
 * The one WebTorrent client of the process, shared by every torrent item (one listening port, one
 * DHT). It is created on first use, so a bot that never sees a torrent opens no port, and
 * destroyed by `destroy()` when the app stops.
 */

/** Maps our config to webtorrent's options. Pure. */
export function webTorrentOptions(torrent: Config["torrent"]): ClientOptions {
  return {
    dht: torrent.dht,
    lsd: torrent.lsd,
    natUpnp: torrent.natTraversal,
    natPmp: torrent.natTraversal,
    // TCP only. With uTP on, webtorrent 2.8.5 dials every IPv4 peer over uTP first and falls back
    // to TCP only after three failed tries (about 21 s per peer); its uTP also stalls on lost
    // datagrams for a second at a time. Nearly every client accepts TCP.
    utp: false,
  };
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
}

export class TorrentClientHolder {
  private client?: WebTorrent;

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
    const client = new WebTorrentClient(webTorrentOptions(this.options.torrent));
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
    this.client = undefined;
    if (!client || client.destroyed) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => client.destroy(() => resolve())),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }
}

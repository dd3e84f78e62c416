import dns from "node:dns";
import net from "node:net";
import ipaddr from "ipaddr.js";
import { InputError } from "../errors.ts";

/**
 * Refusing private networks is decided on the address a connection actually goes to, never on the
 * URL's text: a public-looking name can resolve to 127.0.0.1, and a redirect can point anywhere.
 * The lookup below is handed to every outgoing connection (redirects included); IP literals skip
 * DNS in Node, so they are checked separately by `assertPublicHost`.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return parsed.range() === "unicast";
}

export function privateNetworkError(host: string, address?: string): InputError {
  const where = address && address !== host ? `${host} (${address})` : host;
  return new InputError("PRIVATE_NETWORK", `refused: ${where} is a private or local network address`, {
    userMessage: `${where} is on a private or local network, which this bot does not fetch from; send a public URL.`,
  });
}

/**
 * Which addresses may be connected to. `trusted` lists addresses treated as public anyway: tests
 * use it to let the guard stay on while their fixtures live on loopback.
 */
export interface AddressPolicy {
  allowPrivate: boolean;
  trusted?: readonly string[];
}

export function isAllowedAddress(address: string, policy: AddressPolicy): boolean {
  return policy.allowPrivate || isPublicAddress(address) || (policy.trusted?.includes(address) ?? false);
}

/** Checks a hostname that is an IP literal; names are checked at lookup time. */
export function assertPublicHost(hostname: string, policy: AddressPolicy): void {
  const host = hostname.replace(/^\[|\]$/g, "");
  if (net.isIP(host) && !isAllowedAddress(host, policy)) throw privateNetworkError(host);
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;
export type LookupFunction = (hostname: string, options: dns.LookupOptions, callback: LookupCallback) => void;

/**
 * A `dns.lookup` replacement that fails when any resolved address is not public. `resolve` can be
 * injected so tests can make a name resolve to a private address without touching real DNS.
 */
export type Resolver = (hostname: string) => Promise<dns.LookupAddress[]>;

export function createGuardedLookup(
  policy: AddressPolicy,
  resolve: Resolver = (h) => dns.promises.lookup(h, { all: true }),
): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (addresses) => {
        if (addresses.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
          err.code = "ENOTFOUND";
          return callback(err, "", 0);
        }
        const bad = addresses.find((a) => !isAllowedAddress(a.address, policy));
        if (bad) return callback(privateNetworkError(hostname, bad.address) as NodeJS.ErrnoException, "", 0);
        const wanted = options.family === 6 || options.family === 4 ? addresses.filter((a) => a.family === options.family) : addresses;
        const list = wanted.length ? wanted : addresses;
        if (options.all) return callback(null, list);
        const first = list[0]!;
        callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, "", 0),
    );
  };
}

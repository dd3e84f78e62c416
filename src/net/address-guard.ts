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
  // ipaddr.js reads "::a.b.c.d" as "::ffff:a.b.c.d"; the URL parser writes every IPv6 form the
  // one way a connection will use it.
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address.includes(":") ? new URL(`http://[${address.replace(/^\[|\]$/g, "")}]/`).hostname.slice(1, -1) : address);
  } catch {
    return false; // A zone id or anything else a URL cannot carry: not a public address.
  }
  if (parsed.kind() === "ipv4") return parsed.range() === "unicast";
  const v6 = parsed as ipaddr.IPv6;
  const embedded = embeddedIPv4(v6);
  if (embedded === null) return v6.range() === "unicast";
  // An IPv6 address that carries an IPv4 one reaches that IPv4 host (through a translator, a
  // tunnel, or the kernel itself): it is as public as every IPv4 address it carries.
  return embedded.length > 0 && embedded.every((v4) => v4.range() === "unicast");
}

/**
 * The IPv4 addresses an IPv6 address embeds, or null when it embeds none. An empty list means it
 * is a form that must be refused whatever it carries (IPv4-compatible ::/96, local-use NAT64).
 */
function embeddedIPv4(v6: ipaddr.IPv6): ipaddr.IPv4[] | null {
  const b = v6.toByteArray();
  const v4At = (i: number) => new ipaddr.IPv4(b.slice(i, i + 4));
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const s = v6.parts;
  // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (translated, RFC 6145).
  if (zeros(0, 10) && s[5] === 0xffff) return [v4At(12)];
  if (zeros(0, 8) && s[4] === 0xffff && s[5] === 0) return [v4At(12)];
  // ::a.b.c.d, IPv4-compatible (deprecated since 2006); :: and ::1 are not IPv4.
  if (zeros(0, 12)) return v6.range() === "unspecified" || v6.range() === "loopback" ? null : [];
  // NAT64: the well-known prefix 64:ff9b::/96 carries the address; the local-use 64:ff9b:1::/48
  // leads into somebody's own network.
  if (s[0] === 0x64 && s[1] === 0xff9b) return s[2] === 0 && zeros(8, 12) ? [v4At(12)] : [];
  // 6to4: 2002:a.b.c.d::/48.
  if (s[0] === 0x2002) return [v4At(2)];
  // Teredo: 2001:0:server::client, the client's address inverted.
  if (s[0] === 0x2001 && s[1] === 0) {
    const client = b.slice(12, 16).map((x) => x ^ 0xff);
    return [v4At(4), new ipaddr.IPv4(client)];
  }
  // ISATAP: any prefix with the interface id 0:5efe:a.b.c.d (or 200:5efe:...).
  if ((s[4] === 0 || s[4] === 0x200) && s[5] === 0x5efe) return [v4At(12)];
  return null;
}

export function privateNetworkError(host: string, address?: string): InputError {
  const where = address && address !== host ? `${host} (${address})` : host;
  return new InputError("PRIVATE_NETWORK", `refused: ${where} is a private or local network address`, {
    reason: { kind: "privateNetwork", host, address },
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

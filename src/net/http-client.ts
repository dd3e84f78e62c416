import got, { type Got, HTTPError, RequestError } from "got";
import { AppError, DownloadError, InputError, diskFullError, isDiskFull } from "../errors.ts";
import { type AddressPolicy, assertPublicHost, createGuardedLookup, type Resolver } from "./address-guard.ts";

export interface HttpClientOptions {
  allowPrivateNetworks: boolean;
  /** Replaces DNS (tests resolve made-up names to fixture addresses). */
  resolve?: Resolver;
  /** Addresses allowed even though they are not public (tests' loopback fixtures). */
  trustedAddresses?: readonly string[];
}

const USER_AGENT = "telegram-download-bot/0.1 (+https://core.telegram.org/bots)";

function assertHttpUrl(url: URL, policy: AddressPolicy): void {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InputError("INVALID_URL", `refused a redirect to ${url.protocol} URL`, {
      reason: { kind: "redirectNotHttp", protocol: url.protocol.replace(":", "") },
    });
  }
  assertPublicHost(url.hostname, policy);
}

/**
 * The one HTTP client for fetching things people ask for. Every connection, redirects included,
 * goes through the private-network guard. got's own retries are off: the queue owns retries, so
 * one failure is retried by exactly one layer.
 */
export function createHttpClient(options: HttpClientOptions): Got {
  const policy: AddressPolicy = { allowPrivate: options.allowPrivateNetworks, trusted: options.trustedAddresses };
  return got.extend({
    dnsLookup: createGuardedLookup(policy, options.resolve),
    retry: { limit: 0 },
    followRedirect: true,
    maxRedirects: 10,
    decompress: false,
    timeout: { lookup: 15_000, connect: 15_000, secureConnect: 15_000, response: 30_000 },
    headers: { "user-agent": USER_AGENT },
    hooks: {
      beforeRequest: [(opts) => assertHttpUrl(opts.url as URL, policy)],
      beforeRedirect: [(opts) => assertHttpUrl(opts.url as URL, policy)],
    },
  });
}

/** Finds our own error inside got's wrappers (hooks and the DNS lookup throw through got). */
function findAppError(error: unknown): AppError | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 6; depth++) {
    if (current instanceof AppError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

const PERMANENT_STATUS = new Set([400, 401, 403, 404, 405, 410, 414, 451]);

export function httpStatusError(status: number, url: string): DownloadError {
  const permanent = PERMANENT_STATUS.has(status);
  const host = hostOf(url);
  return new DownloadError(permanent ? "HTTP_PERMANENT" : "HTTP_TRANSIENT", `${host ?? "?"}: HTTP ${status}`, {
    retryable: !permanent,
    reason: { kind: "httpStatus", host, status, permanent },
  });
}

/** The URL's host, or null when it has none to name. */
function hostOf(url: string): string | null {
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}

/** Turns whatever got threw into an AppError that says whether retrying can help. */
export function classifyHttpError(error: unknown, url: string): AppError {
  const own = findAppError(error);
  if (own) return own;
  if (error instanceof HTTPError) return httpStatusError(error.response.statusCode, url);
  if (error instanceof RequestError) {
    const host = hostOf(url);
    if (error.code === "ENOTFOUND" || error.code === "EAI_AGAIN") {
      return new DownloadError("NETWORK", `${host ?? "?"}: name not found (${error.code})`, {
        retryable: error.code === "EAI_AGAIN",
        cause: error,
        reason: { kind: "hostNotFound", host },
      });
    }
    if (error.code === "ERR_TOO_MANY_REDIRECTS") {
      return new DownloadError("HTTP_PERMANENT", `${host ?? "?"}: too many redirects`, {
        cause: error,
        reason: { kind: "redirectLoop", host },
      });
    }
    if (error.name === "TimeoutError") {
      return new DownloadError("NETWORK", `${host ?? "?"}: timed out (${error.code})`, {
        retryable: true,
        cause: error,
        reason: { kind: "hostTimedOut", host },
      });
    }
    return new DownloadError("NETWORK", `${host ?? "?"}: connection failed (${error.code})`, {
      retryable: true,
      cause: error,
      reason: { kind: "connectionFailed", host, code: error.code },
    });
  }
  if (error instanceof Error && "code" in error && typeof (error as NodeJS.ErrnoException).code === "string") {
    const code = (error as NodeJS.ErrnoException).code!;
    if (isDiskFull(error)) return diskFullError(error);
    return new DownloadError("NETWORK", `${hostOf(url) ?? "?"}: ${code}`, {
      retryable: true,
      cause: error,
      reason: { kind: "transferFailed", host: hostOf(url), code },
    });
  }
  return new DownloadError("NETWORK", error instanceof Error ? error.message : String(error), {
    retryable: true,
    cause: error,
    reason: { kind: "transferFailed", host: hostOf(url), code: null },
  });
}

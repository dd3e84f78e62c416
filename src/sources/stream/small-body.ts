import type { Got } from "got";
import { AppError, DownloadError, type ErrorReason, stopReason } from "../../errors.ts";
import { classifyHttpError, httpStatusError } from "../../net/http-client.ts";
import { readCapped, responseHeader, responseOf } from "../http-probe.ts";

/** Longest a playlist (or a key) may take to arrive. */
const MANIFEST_TIMEOUT_MS = 30_000;

/**
 * A small body (a playlist, a key) read whole, but never more than `maxBytes` of it and never for
 * longer than MANIFEST_TIMEOUT_MS: whoever serves it cannot make the bot hold more.
 */
export async function fetchSmall(
  http: Got,
  url: string,
  signal: AbortSignal,
  maxBytes: number,
  say: { tooLarge: ErrorReason; timedOut: ErrorReason },
): Promise<{ body: Buffer; contentType: string; finalUrl: string }> {
  if (signal.aborted) throw stopReason(signal);
  const timeout = AbortSignal.timeout(MANIFEST_TIMEOUT_MS);
  const stream = http.stream(url, { signal: AbortSignal.any([signal, timeout]), headers: { "accept-encoding": "identity" } });
  stream.on("error", () => {});
  try {
    const response = await responseOf(stream);
    if (response.statusCode !== 200) throw httpStatusError(response.statusCode, url);
    const body = await readCapped(stream, maxBytes, () => new DownloadError("NO_MEDIA", `stream: ${url} is over ${maxBytes} bytes`, { reason: say.tooLarge }));
    return { body, contentType: responseHeader(response, "content-type") ?? "", finalUrl: response.url || url };
  } catch (error) {
    if (signal.aborted) throw stopReason(signal);
    if (timeout.aborted) throw new DownloadError("NETWORK", `stream: ${url} timed out`, { retryable: true, reason: say.timedOut });
    throw error instanceof AppError ? error : classifyHttpError(error, url);
  } finally {
    stream.destroy();
  }
}

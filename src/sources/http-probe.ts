import contentDisposition from "content-disposition";
import type { Got, Request, Response } from "got";
import { classifyHttpError, httpStatusError } from "../net/http-client.ts";

export interface ProbeResult {
  /** After redirects. */
  finalUrl: string;
  /** Total size in bytes, when the server tells it. */
  size: number | null;
  /** A name for the file: Content-Disposition, else the URL's last path segment. */
  title: string;
  contentType: string | null;
  etag: string | null;
  lastModified: string | null;
}

/** Content-Disposition's filename, if any (filename* wins, as RFC 6266 says). */
export function filenameFromDisposition(header: string | undefined): string | undefined {
  if (!header) return undefined;
  try {
    const name = contentDisposition.parse(header).parameters.filename;
    return name && name.trim() ? name.trim() : undefined;
  } catch {
    return undefined;
  }
}

/** The last non-empty path segment of a URL, decoded; the host when there is none. */
export function filenameFromUrl(url: string): string {
  try {
    const u = new URL(url);
    const segment = u.pathname.split("/").filter(Boolean).pop();
    if (segment) {
      try {
        return decodeURIComponent(segment);
      } catch {
        return segment;
      }
    }
    return u.hostname;
  } catch {
    return "download";
  }
}

/** "bytes 0-0/12345" → 12345; null when absent or "*". */
export function totalFromContentRange(header: string | undefined): number | null {
  const match = header?.match(/\/(\d+)\s*$/);
  return match ? Number(match[1]) : null;
}

/** A response header's (first) value, or null: got's headers may be arrays. */
export function responseHeader(response: Response, name: string): string | null {
  const value = response.headers[name];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

function fromResponse(response: Response, size: number | null, requested: string): ProbeResult {
  const finalUrl = response.url || requested;
  return {
    finalUrl,
    size,
    title: filenameFromDisposition(responseHeader(response, "content-disposition") ?? undefined) ?? filenameFromUrl(finalUrl),
    contentType: responseHeader(response, "content-type"),
    etag: responseHeader(response, "etag"),
    lastModified: responseHeader(response, "last-modified"),
  };
}

/**
 * Asks the server about a file without downloading it: HEAD first; when HEAD is refused, a GET of
 * the first byte (`Range: bytes=0-0`), whose Content-Range carries the total size.
 */
export async function probeUrl(http: Got, url: string, signal?: AbortSignal): Promise<ProbeResult> {
  try {
    const head = await http.head(url, { throwHttpErrors: false, signal });
    if (head.statusCode >= 200 && head.statusCode < 300) {
      const length = responseHeader(head, "content-length");
      return fromResponse(head, length !== null && /^\d+$/.test(length) ? Number(length) : null, url);
    }
    if (head.statusCode === 404 || head.statusCode === 410) throw httpStatusError(head.statusCode, url);
  } catch (error) {
    const classified = classifyHttpError(error, url);
    if (!classified.retryable) throw classified;
    // A server that fails HEAD may still serve GET; fall through.
  }
  return await new Promise<ProbeResult>((resolve, reject) => {
    const stream = http.stream(url, { headers: { range: "bytes=0-0" }, throwHttpErrors: false, signal });
    stream.once("response", (response: Response) => {
      stream.destroy();
      const status = response.statusCode;
      if (status === 206) return resolve(fromResponse(response, totalFromContentRange(responseHeader(response, "content-range") ?? undefined), url));
      if (status >= 200 && status < 300) {
        const length = responseHeader(response, "content-length");
        return resolve(fromResponse(response, length !== null && /^\d+$/.test(length) ? Number(length) : null, url));
      }
      reject(httpStatusError(status, url));
    });
    stream.once("error", (error) => reject(classifyHttpError(error, url)));
  });
}

/** A got stream's response, or the error that came instead. */
export function responseOf(stream: Request): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    stream.once("response", resolve);
    stream.once("error", reject);
  });
}

/**
 * A small body (a page, a feed, a playlist, a .torrent) read whole, but never past `maxBytes`:
 * `tooLarge()` is thrown the moment it would be, so the rest never crosses the wire.
 */
export async function readCapped(body: AsyncIterable<Buffer>, maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * A streaming multipart/form-data reader with the Telegram Bot API server's leniency.
 *
 * Why not busboy: grammY writes part headers as
 *   content-disposition:form-data;name="<id>";filename=<raw file name>
 * with the file name unquoted and unescaped. busboy only accepts RFC tokens there, so a file
 * name with a space, parenthesis or non-ASCII letter ("My Video (1).mp4") makes it silently drop
 * the whole file part. The real server (tdlib's HttpReader) splits the disposition on ';' and
 * '=' and strips quotes only if present, which accepts everything grammY sends; this mirrors it.
 *
 * File bodies are handed to the caller chunk by chunk and awaited (backpressure); only a tail
 * shorter than the boundary is ever kept in memory.
 */

export interface PartInfo {
  /** The form field name (for grammY uploads: a random id referenced as attach://<id>). */
  name: string;
  /** Present for file parts (even if empty). */
  filename?: string;
  contentType: string;
}

export interface FileSink {
  write(chunk: Buffer): Promise<void> | void;
  end(): Promise<void> | void;
  /** The request broke off (client gone, malformed body): release resources, no end() follows. */
  abort(): void;
}

export interface MultipartHandlers {
  field(name: string, value: string): void;
  file(info: PartInfo): FileSink;
}

export class MultipartError extends Error {}

/** Extracts the boundary the way tdlib does: after "boundary=", up to ';', quotes stripped. */
export function boundaryOf(contentType: string): string {
  const m = /boundary\s*=\s*("([^"]*)"|[^;]*)/i.exec(contentType);
  const boundary = (m?.[2] ?? m?.[1] ?? "").trim();
  if (boundary === "" || boundary.length > 70) throw new MultipartError("boundary too big or empty");
  return boundary;
}

type State = "prologue" | "afterBoundary" | "headers" | "body" | "epilogue";

export async function readMultipart(
  body: AsyncIterable<Buffer>,
  boundary: string,
  handlers: MultipartHandlers,
): Promise<void> {
  const first = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const headerEnd = Buffer.from("\r\n\r\n");

  // `as State`: TS cannot see that step() changes it and would narrow it to "prologue".
  let state = "prologue" as State;
  let buf: Buffer = Buffer.alloc(0);
  let part: PartInfo | undefined;
  let sink: FileSink | undefined;
  let fieldChunks: Buffer[] = [];

  const emit = async (chunk: Buffer): Promise<void> => {
    if (chunk.length === 0) return;
    if (sink) await sink.write(chunk);
    else fieldChunks.push(chunk);
  };

  const finishPart = async (): Promise<void> => {
    if (sink) await sink.end();
    else if (part) handlers.field(part.name, Buffer.concat(fieldChunks).toString("utf8"));
    part = undefined;
    sink = undefined;
    fieldChunks = [];
  };

  // Runs the state machine over what is buffered; returns when more input is needed.
  const step = async (): Promise<void> => {
    for (;;) {
      switch (state) {
        case "prologue": {
          const i = buf.indexOf(first);
          if (i < 0) {
            buf = buf.subarray(Math.max(0, buf.length - first.length + 1));
            return;
          }
          buf = buf.subarray(i + first.length);
          state = "afterBoundary";
          break;
        }
        case "afterBoundary": {
          if (buf.length < 2) return;
          if (buf[0] === 0x2d && buf[1] === 0x2d) {
            state = "epilogue";
            break;
          }
          state = "headers";
          break;
        }
        case "headers": {
          const i = buf.indexOf(headerEnd);
          if (i < 0) {
            if (buf.length > 16 * 1024) throw new MultipartError("headers in multipart/form-data are too long");
            return;
          }
          if (i === 0) throw new MultipartError("headers in multipart/form-data are empty");
          // The headers start after the CRLF that ends the boundary line.
          part = parsePartHeaders(buf.subarray(2, i + 2).toString("utf8"));
          buf = buf.subarray(i + headerEnd.length);
          if (part.filename !== undefined) sink = handlers.file(part);
          state = "body";
          break;
        }
        case "body": {
          const i = buf.indexOf(delimiter);
          if (i < 0) {
            // Everything except a possible partial delimiter at the end is body.
            const safe = buf.length - (delimiter.length - 1);
            if (safe > 0) {
              const chunk = buf.subarray(0, safe);
              buf = buf.subarray(safe);
              await emit(chunk);
            }
            return;
          }
          const chunk = buf.subarray(0, i);
          buf = buf.subarray(i + delimiter.length);
          await emit(chunk);
          await finishPart();
          state = "afterBoundary";
          break;
        }
        case "epilogue":
          buf = Buffer.alloc(0);
          return;
      }
    }
  };

  // In a body, what is left between chunks is a tail shorter than the delimiter: it is resolved
  // against the new chunk's first bytes, so the chunk itself is never copied (a 1 GiB upload
  // would otherwise be copied once more, 64 kB at a time, and churn the collector).
  const bodyTail = async (chunk: Buffer): Promise<void> => {
    const probe = Buffer.concat([buf, chunk.subarray(0, delimiter.length - 1)]);
    const i = probe.indexOf(delimiter);
    if (i >= 0 && i < buf.length) {
      await emit(buf.subarray(0, i));
      buf = chunk.subarray(i + delimiter.length - buf.length);
      await finishPart();
      state = "afterBoundary";
    } else {
      await emit(buf);
      buf = chunk;
    }
  };

  try {
    for await (const chunk of body) {
      if (buf.length === 0) buf = chunk;
      else if (state === "body" && chunk.length >= delimiter.length - 1) await bodyTail(chunk);
      else buf = Buffer.concat([buf, chunk]);
      await step();
    }
  } catch (err) {
    sink?.abort();
    throw err;
  }
  if (state !== "epilogue") {
    sink?.abort();
    throw new MultipartError("unexpected end of multipart/form-data");
  }
}

/** Header parsing as in tdlib's HttpReader: lenient about quoting and spacing. */
function parsePartHeaders(raw: string): PartInfo {
  let name: string | undefined;
  let filename: string | undefined;
  let contentType = "application/octet-stream";
  // Unfold continuation lines, then split.
  const lines = raw.replace(/\r\n[ \t]+/g, " ").split("\r\n").filter((l) => l !== "");
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon < 0) throw new MultipartError("can't parse form data headers");
    const key = line.slice(0, colon).trim().toLowerCase();
    let value = line.slice(colon + 1).trim();
    if (key === "content-disposition") {
      if (!value.startsWith("form-data;")) throw new MultipartError("expected form-data content disposition");
      value = value.slice("form-data;".length);
      for (;;) {
        value = value.trim();
        const eq = value.indexOf("=");
        if (eq < 0) break;
        const k = value.slice(0, eq).trim();
        value = value.slice(eq + 1);
        const semi = value.indexOf(";");
        let v = (semi < 0 ? value : value.slice(0, semi)).trim();
        value = semi < 0 ? "" : value.slice(semi + 1);
        if (v.length > 1 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
        if (k === "name") name = v;
        else if (k === "filename") filename = v;
      }
    } else if (key === "content-type") {
      contentType = value;
    }
  }
  if (!name) throw new MultipartError("field name in multipart/form-data not found");
  return { name, filename, contentType };
}

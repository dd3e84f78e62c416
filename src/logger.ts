import { Writable } from "node:stream";
import { format } from "node:util";
import pino from "pino";

export type Logger = pino.Logger;

export interface LoggerOptions {
  level: string;
  /** Strings that must never reach the log (the bot token); each is replaced by "[redacted]". */
  secrets: string[];
  /** Where JSON lines go; stdout by default. */
  destination?: NodeJS.WritableStream;
}

/**
 * Structured logging: one JSON line per event. The token can hide in places no field-based
 * redaction knows about (a URL inside an error message from a dependency), so every finished line
 * is scrubbed before it is written.
 */
export function createLogger(options: LoggerOptions): Logger {
  const out = options.destination ?? process.stdout;
  const secrets = options.secrets.filter((s) => s.length >= 6);
  const scrub = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      let line = chunk.toString("utf8");
      for (const secret of secrets) line = line.split(secret).join("[redacted]");
      out.write(line, callback);
    },
  });
  return pino(
    { level: options.level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime },
    scrub,
  );
}

/**
 * Sends what dependencies print with `console.*` (bencode warns with `console.trace` on a
 * malformed .torrent, for one) into the log as JSON, so every line the process writes is one.
 */
export function captureConsole(logger: Logger): void {
  const levels = { log: "info", info: "info", debug: "debug", warn: "warn", error: "error", trace: "warn" } as const;
  for (const [method, level] of Object.entries(levels) as Array<[keyof typeof levels, (typeof levels)[keyof typeof levels]]>) {
    console[method] = (...args: unknown[]) => {
      const text = format(...args);
      const stack = method === "trace" ? new Error().stack?.split("\n").slice(2).join("\n") : undefined;
      logger[level]({ console: method, text, ...(stack ? { stack } : {}) }, "a dependency wrote to the console");
    };
  }
}

import { Writable } from "node:stream";
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

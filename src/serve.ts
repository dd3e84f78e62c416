import { GrammyError } from "grammy";
import { type App, createApp } from "./app.ts";
import { loadConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";
import { captureConsole, createLogger } from "./logger.ts";

/** This many uncaught exceptions within the window end the process (see the handler). */
const EXCEPTION_LIMIT = 5;
const EXCEPTION_WINDOW_MS = 60_000;

/**
 * The bot as a process (imported by `main.ts` once the Node version passed): reads the config,
 * wires the app and owns the process (signals, exit codes).
 * Exit codes: 0 after a clean stop, 1 on a fatal error at run time, 2 for an unusable config.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = await loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }

  const secret = config.botToken.split(":")[1] ?? "";
  const logger = createLogger({ level: config.logLevel, secrets: [config.botToken, secret] });
  captureConsole(logger);
  /** One line for the person at the console, never with the token in it. */
  const say = (line: string) => {
    for (const s of [config.botToken, secret].filter(Boolean)) line = line.split(s).join("[redacted]");
    process.stderr.write(`${line}\n`);
  };

  let app: App | undefined;

  // A bug must not end the bot silently or print a bare stack: log it as JSON. A rejected
  // promise nobody awaited leaves the process sound. An exception no callback caught is a bug
  // too, most likely in the running transfer's socket, stream or child: it fails that attempt
  // (retried like any failure; attempts count when they start, so one link cannot do this for
  // ever) and the bot goes on serving every other chat. Exiting instead would stop the whole
  // queue until someone restarts it. Only a storm of them (a bug in a timer, say) means the
  // process itself is broken: then exit, and a supervisor's restart resumes from SQLite.
  process.on("unhandledRejection", (reason) => {
    logger.error({ err: reason instanceof Error ? reason.message : String(reason) }, "unhandled rejection");
  });
  const recentExceptions: number[] = [];
  process.on("uncaughtException", (error) => {
    const failed = app?.worker.failActive(error) ?? false;
    logger.error({ err: error.message, stack: error.stack, failedRunningAttempt: failed }, "uncaught exception");
    const now = Date.now();
    recentExceptions.push(now);
    while (recentExceptions[0]! < now - EXCEPTION_WINDOW_MS) recentExceptions.shift();
    if (recentExceptions.length >= EXCEPTION_LIMIT) {
      logger.fatal({ count: recentExceptions.length }, "uncaught exceptions keep coming; exiting");
      process.exit(1);
    }
  });

  try {
    app = await createApp(config, { logger });
    await app.start();
  } catch (error) {
    logger.fatal({ err: error instanceof Error ? error.message : String(error) }, "could not start");
    // A person reads this: one line that says what to fix.
    say(`Could not start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, "stopping");
    // Never hang on the way out: a stop that takes too long is cut short.
    setTimeout(() => process.exit(1), 8000).unref();
    app.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  void app.stopped.then((error) => {
    if (stopping) return;
    stopping = true;
    logger.fatal("polling ended; exiting");
    say(pollingEndedLine(error));
    app.stop().finally(() => process.exit(1));
  });
}

/** The one line a person reads when polling ends on its own. */
function pollingEndedLine(error: unknown): string {
  if (error instanceof GrammyError && error.error_code === 409) {
    return "Another process has been polling this bot for over a minute (409 Conflict): stop the other instance, or delete its webhook, then start this one again.";
  }
  if (error instanceof GrammyError && error.error_code === 401) {
    return "Telegram no longer accepts botToken (401 Unauthorized): get the current token from @BotFather and start again.";
  }
  return `Polling Telegram ended: ${error instanceof Error ? error.message : String(error)}`;
}

void main();

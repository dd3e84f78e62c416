/**
 * The container's health check: `node dist/src/healthcheck.js` (the Dockerfile's HEALTHCHECK).
 * It reads the config as the bot does and answers whether the bot in that `dataDir` is alive:
 * its heartbeat (`heartbeat.ts`) is younger than two minutes, so its event loop turns, and its
 * database opens read-only and answers a query, so the disk under it works.
 *
 * One line on stdout when healthy, one line saying what is wrong on stderr when not; the exit
 * code is 0 or 1, the only two Docker reads (`docker inspect` shows the line).
 */
import { existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { loadConfig } from "./config.ts";
import { HEARTBEAT_FILE, HEARTBEAT_MAX_AGE_MS, heartbeatFresh } from "./heartbeat.ts";

/** The bot's database in `dataDir`: the file `app.ts` opens and migrates. */
const DATABASE_FILE = "bot.sqlite";

class Unhealthy extends Error {}

async function checkHealth(nowMs: number): Promise<string> {
  let dataDir: string;
  let web: { port?: number | undefined; host: string };
  try {
    ({ dataDir, web } = await loadConfig());
  } catch (error) {
    throw new Unhealthy(`the config cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  // With the web server on, its /healthz says more (polling alive, the database answering).
  if (web.port !== undefined) return askHealthz(web.host, web.port);

  const heartbeat = path.resolve(dataDir, HEARTBEAT_FILE);
  let mtimeMs: number;
  try {
    mtimeMs = (await stat(heartbeat)).mtimeMs;
  } catch {
    throw new Unhealthy(`no heartbeat at ${heartbeat}: the bot has not started, or runs with another dataDir`);
  }
  const ageS = Math.round((nowMs - mtimeMs) / 1000);
  if (!heartbeatFresh(mtimeMs, nowMs, HEARTBEAT_MAX_AGE_MS)) {
    throw new Unhealthy(
      `the heartbeat at ${heartbeat} is ${ageS} s old (at most ${HEARTBEAT_MAX_AGE_MS / 1000} s expected): the bot is stuck or not running`,
    );
  }

  const file = path.resolve(dataDir, DATABASE_FILE);
  let items: number;
  try {
    // Read-only and never created: the check must not write, nor make an empty database appear.
    // A plain query rather than a repository's: what is checked is that SQLite answers at all.
    const db = new SqliteDatabase(file, { readonly: true, fileMustExist: true, timeout: 2000 });
    try {
      items = (db.prepare("select count(*) as n from items").get() as { n: number }).n;
    } finally {
      db.close();
    }
  } catch (error) {
    if (!existsSync(file)) throw new Unhealthy(`no database at ${file}: the bot has not started, or runs with another dataDir`);
    throw new Unhealthy(`the database ${file} does not answer: ${error instanceof Error ? error.message : String(error)}`);
  }
  return `healthy: heartbeat ${ageS} s old, ${items} items in ${file}`;
}

/** The running bot's own answer: 200 healthy, anything else (or no answer in 5 s) not. */
async function askHealthz(host: string, port: number): Promise<string> {
  const address = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  const url = `http://${address}:${port}/healthz`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (error) {
    throw new Unhealthy(`${url} does not answer (${error instanceof Error ? error.message : String(error)}): the bot is not running, or stuck`);
  }
  const body = (await response.text()).slice(0, 200).replace(/\s+/g, " ");
  if (response.status !== 200) throw new Unhealthy(`${url} answered ${response.status}: ${body}`);
  return `healthy: ${url} answered 200: ${body}`;
}

try {
  process.stdout.write(`${await checkHealth(Date.now())}\n`);
} catch (error) {
  const reason = error instanceof Unhealthy ? error.message : `the check itself failed: ${String(error)}`;
  process.stderr.write(`unhealthy: ${reason}\n`);
  process.exitCode = 1;
}

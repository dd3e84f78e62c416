/**
 * Entry point. The Node version is checked before the bot's modules load: static imports are
 * evaluated before a module's own code, so the check and the bot are two modules, and the bot
 * (`serve.ts`: config, logger, signals, exit codes) is imported only once the check passed, with
 * `node:http`'s WebSocket getters out of the way (lean-http.ts: Node's undici stays unloaded).
 */
import { withLeanHttp } from "./lean-http.ts";
import { nodeRefusal } from "./runtime-check.ts";

const refusal = nodeRefusal(process.versions.node);
if (refusal) {
  process.stderr.write(`${refusal}\n`);
  process.exit(2);
}
await withLeanHttp(() => import("./serve.ts"));

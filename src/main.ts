/**
 * Entry point. The Node version is checked before the bot's modules load: static imports are
 * evaluated before a module's own code, so the check and the bot are two modules, and the bot
 * (`serve.ts`: config, logger, signals, exit codes) is imported only once the check passed, without
 * what its dependencies load and an idle bot never uses (lean-start.ts).
 */
import { loadLean } from "./lean-start.ts";
import { nodeRefusal } from "./runtime-check.ts";

const refusal = nodeRefusal(process.versions.node);
if (refusal) {
  process.stderr.write(`${refusal}\n`);
  process.exit(2);
}
await loadLean(() => import("./serve.ts"));

/**
 * `npm run logout`: moves the bot off the cloud Bot API, once, before its first start against a
 * local server. Telegram's `logOut` ends the cloud's session for the token; skipped, the cloud may
 * keep taking some updates that then never reach the local server (Telegram documents no error for
 * it). Afterwards the cloud takes the bot back only after 10 minutes.
 */
import { Api } from "grammy";
import { telegramErrorText } from "./bot/create-bot.ts";
import { loadConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";
import { nodeRefusal } from "./runtime-check.ts";

async function logout(): Promise<number> {
  const refusal = nodeRefusal(process.versions.node);
  if (refusal) return say(refusal, 2);
  let config;
  try {
    config = await loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) return say(error.message, 2);
    throw error;
  }
  const redact = (line: string) => line.split(config.botToken).join("[redacted]");
  const root = config.cloudApiRoot;
  try {
    await new Api(config.botToken, { apiRoot: root }).logOut();
  } catch (error) {
    return say(redact(`logOut at ${root} failed (${telegramErrorText(error)}). If this bot was logged out of the cloud before, nothing more is needed; otherwise check botToken and try again.`), 1);
  }
  return say(
    `Logged the bot out of the cloud Bot API at ${root}: start the local Bot API server and the bot now (localBotApi: true). The cloud takes this bot back only after 10 minutes.`,
    0,
  );
}

function say(line: string, code: number): number {
  (code === 0 ? process.stdout : process.stderr).write(`${line}\n`);
  return code;
}

process.exitCode = await logout();

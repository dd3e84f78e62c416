import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Telegram's Mini App sign-in (core.telegram.org/bots/webapps, "Validating data received via the
 * Mini App"): the client hands the page `initData`, a query string signed with the bot's token.
 * The data-check-string is every field but `hash`, sorted by key, as `key=value` lines; the
 * secret key is HMAC-SHA256 of the token keyed with "WebAppData"; `hash` is the hex HMAC-SHA256
 * of the data-check-string under that key. Pure: the caller passes the clock.
 */

/** The person the Mini App was opened by. */
export interface MiniAppUser {
  id: number;
  firstName: string;
  username?: string;
}

export type InitDataCheck =
  | { ok: true; user: MiniAppUser; authDate: number; startParam?: string }
  | { ok: false; why: "malformed" | "bad-signature" | "expired" | "no-user" };

/** How old signed data may be: a day, as the issue asks (Telegram signs it when the app opens). */
export const INIT_DATA_MAX_AGE_S = 86_400;

/** The secret key of a bot's Mini App data (worth computing once per bot). */
export function initDataKey(botToken: string): Buffer {
  return createHmac("sha256", "WebAppData").update(botToken).digest();
}

/** Signs fields as Telegram does: the `hash` a Mini App's initData carries (tests sign with it). */
export function signInitData(fields: Record<string, string>, key: Buffer): string {
  const dataCheckString = Object.keys(fields)
    .filter((k) => k !== "hash")
    .sort()
    .map((k) => `${k}=${fields[k]}`)
    .join("\n");
  return createHmac("sha256", key).update(dataCheckString).digest("hex");
}

/** Checks `raw` (the initData query string) against the bot's key and its age at `nowS` (seconds). */
export function checkInitData(raw: string, key: Buffer, nowS: number, maxAgeS = INIT_DATA_MAX_AGE_S): InitDataCheck {
  if (raw.length === 0 || raw.length > 8192) return { ok: false, why: "malformed" };
  const params = new URLSearchParams(raw);
  const fields: Record<string, string> = {};
  for (const [key, value] of params) {
    // A key given twice cannot be read one way only: refused rather than guessed.
    if (Object.hasOwn(fields, key)) return { ok: false, why: "malformed" };
    fields[key] = value;
  }
  const hash = fields.hash;
  if (!hash || !/^[0-9a-f]{64}$/.test(hash)) return { ok: false, why: "malformed" };
  const expected = Buffer.from(signInitData(fields, key), "hex");
  if (!timingSafeEqual(expected, Buffer.from(hash, "hex"))) return { ok: false, why: "bad-signature" };
  const authDate = Number(fields.auth_date);
  if (!Number.isInteger(authDate)) return { ok: false, why: "malformed" };
  // A date far in the future is no fresher than an old one: the clock or the data is wrong.
  if (nowS - authDate > maxAgeS || authDate - nowS > 300) return { ok: false, why: "expired" };
  const user = parseUser(fields.user);
  if (!user) return { ok: false, why: "no-user" };
  return { ok: true, user, authDate, ...(fields.start_param ? { startParam: fields.start_param } : {}) };
}

function parseUser(text: string | undefined): MiniAppUser | undefined {
  if (!text) return undefined;
  try {
    const user = JSON.parse(text) as { id?: unknown; first_name?: unknown; username?: unknown };
    if (typeof user.id !== "number" || !Number.isSafeInteger(user.id)) return undefined;
    return {
      id: user.id,
      firstName: typeof user.first_name === "string" ? user.first_name : "",
      ...(typeof user.username === "string" ? { username: user.username } : {}),
    };
  } catch {
    return undefined;
  }
}

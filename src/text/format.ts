/** Small pure helpers for what the bot writes: sizes, durations, escaping and cutting. */

const UNITS = ["B", "KB", "MB", "GB", "TB"];

/** 1536 → "1.5 KB". Binary multiples, as file managers show them. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "?";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  // Decided on the rounded value, so 1048575 B is "1.0 MB", not "1024 KB", and 99.97 KB is "100 KB".
  let digits = unit === 0 || value >= 99.95 ? 0 : 1;
  if (Number(value.toFixed(digits)) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
    digits = 1;
  }
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** 3725 s → "1h 2m". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** Escapes text for Telegram's HTML parse mode. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/**
 * Cuts a string to at most `max` characters, ending with "…" when cut. Telegram counts UTF-16 code
 * units, so that is what is measured; the cut never splits a surrogate pair (an emoji).
 */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = "";
  for (const char of text) {
    if (out.length + char.length > max - 1) break;
    out += char;
  }
  return out + "…";
}

/** A short, escaped excerpt of something a person sent, safe to echo back. */
export function excerpt(text: string, max = 80): string {
  return escapeHtml(truncate(text.replace(/\s+/g, " ").trim(), max));
}

/** Telegram's limits on what a bot may write. */
export const MESSAGE_LIMIT = 4096;
export const CAPTION_LIMIT = 1024;

/**
 * Files named with their sizes, the first `shown` of them, then how many more of `total` (when
 * only the first few were kept). Pure.
 */
export function listFilesWithSizes(files: ReadonlyArray<{ path: string; length: number }>, shown = 10, total = files.length): string {
  const names = files.slice(0, shown).map((f) => `${truncate(f.path, 120)} (${formatBytes(f.length)})`);
  if (total > names.length) names.push(`and ${total - names.length} more`);
  return names.join(", ");
}

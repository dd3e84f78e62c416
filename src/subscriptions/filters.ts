/**
 * `match` and `exclude` of a subscription (pure): plain words, every one of which must be in an
 * entry's title (case and accents aside), or a `/regular expression/` with its flags.
 */

export type EntryFilter = { kind: "words"; words: string[] } | { kind: "regex"; regex: RegExp };

/** Titles are cut to this before a person's regular expression sees them. */
const MAX_TEXT = 500;

/** The filter a /watch argument describes, or null when it is not a valid one. */
export function parseFilter(text: string): EntryFilter | null {
  const trimmed = text.trim();
  const regex = /^\/(.+)\/([a-z]*)$/s.exec(trimmed);
  if (regex) {
    try {
      // Always case-insensitive: titles are written every which way.
      const flags = new Set([...regex[2]!.replace(/[gy]/g, ""), "i"]);
      return { kind: "regex", regex: new RegExp(regex[1]!, [...flags].join("")) };
    } catch {
      return null;
    }
  }
  const words = fold(trimmed).split(/\s+/).filter(Boolean);
  return words.length ? { kind: "words", words } : null;
}

/** Lower case without accents, so "Épisode" matches "episode". */
function fold(text: string): string {
  return text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
}

function matches(filter: EntryFilter, text: string): boolean {
  const cut = text.slice(0, MAX_TEXT);
  if (filter.kind === "regex") return filter.regex.test(cut);
  const folded = fold(cut);
  return filter.words.every((word) => folded.includes(word));
}

/**
 * Whether an entry whose title (or file name) is `text` is queued: it matches `match` (when
 * given) and not `exclude`: an exclude's words each rule an entry out on their own.
 */
export function passes(text: string, filters: { match: EntryFilter | null; exclude: EntryFilter | null }): boolean {
  if (filters.match && !matches(filters.match, text)) return false;
  if (!filters.exclude) return true;
  if (filters.exclude.kind === "regex") return !matches(filters.exclude, text);
  return !filters.exclude.words.some((word) => matches({ kind: "words", words: [word] }, text));
}

/** What an entry is filtered on: its title, else the file name its URL ends in. */
export function filterText(entry: { title: string | null; url: string }): string {
  if (entry.title) return entry.title;
  try {
    const name = new URL(entry.url).pathname.split("/").filter(Boolean).at(-1);
    return name ? decodeURIComponent(name) : entry.url;
  } catch {
    return entry.url;
  }
}

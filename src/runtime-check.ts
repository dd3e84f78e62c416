/**
 * The Node versions the bot runs on. Checked by `main.ts` before anything else loads: on an older
 * Node the dependencies fail in ways that say nothing useful (better-sqlite3's N-API build
 * crashes, webtorrent 3 needs Node 22's APIs). No imports here, so the check itself runs anywhere.
 */
export const MIN_NODE_MAJOR = 22;

/** The one line to print when this Node is too old, or undefined when it will do. Pure. */
export function nodeRefusal(version: string): string | undefined {
  const major = Number(version.replace(/^v/, "").split(".")[0]);
  if (Number.isFinite(major) && major >= MIN_NODE_MAJOR) return undefined;
  return `This bot needs Node ${MIN_NODE_MAJOR} or 24; this is Node ${version}. Install Node 24 (see the README's "Running it"), or run the Docker image.`;
}

import { promises as fs } from "node:fs";
import path from "node:path";
import type { Db } from "../db/database.ts";
import { listOpenItems } from "../db/item-repository.ts";
import { clearSegments } from "../db/segment-repository.ts";
import type { Logger } from "../logger.ts";
import { itemDir } from "../storage/paths.ts";

/**
 * An item's folder on the data disk: made when its download starts, removed when it ends for good
 * (delivered, failed, cancelled, running or waiting) together with the progress recorded about
 * what is in it. The worker and queue control both remove folders through here.
 */
export interface ItemFolderDeps {
  db: Db;
  dataDir: string;
  logger: Logger;
}

/** Makes the item's folder (if it is not there yet) and gives its path. */
export async function makeItemFolder(dataDir: string, itemId: number): Promise<string> {
  const dir = itemDir(dataDir, itemId);
  await fs.mkdir(dir, { recursive: true });
  return dir;
}

/** Best effort: a file that cannot be removed must not turn a delivered item into a failure. */
export async function removeItemFolder(deps: ItemFolderDeps, itemId: number): Promise<void> {
  // The parts' progress describes files about to go: a later attempt must not trust it.
  await clearSegments(deps.db, itemId).catch(() => {});
  await fs.rm(itemDir(deps.dataDir, itemId), { recursive: true, force: true }).catch((error: unknown) => {
    deps.logger.warn({ itemId, err: error instanceof Error ? error.message : String(error) }, "could not remove an item's files");
  });
}

/**
 * A crash between an item's final status and the removal of its files leaves a folder no item
 * will use again; clear those at start so the disk does not fill up over weeks.
 */
export async function removeOrphanFolders(deps: ItemFolderDeps): Promise<void> {
  const root = path.resolve(deps.dataDir, "downloads");
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch {
    return;
  }
  const open = new Set((await listOpenItems(deps.db)).map((i) => String(i.id)));
  const orphans = names.filter((name) => !open.has(name));
  for (const name of orphans) await fs.rm(path.join(root, name), { recursive: true, force: true }).catch(() => {});
  if (orphans.length) deps.logger.info({ removed: orphans.length }, "removed files of finished items");
}

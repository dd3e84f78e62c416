import type { Db } from "./database.ts";

/** Small switches that survive a restart (the whole queue paused, say); see migration 004. */

export async function getSetting(db: Db, key: string): Promise<string | undefined> {
  const row = await db.selectFrom("settings").select("value").where("key", "=", key).executeTakeFirst();
  return row?.value;
}

export async function putSetting(db: Db, key: string, value: string, now: number): Promise<void> {
  await db
    .insertInto("settings")
    .values({ key, value, updated_at: now })
    .onConflict((oc) => oc.column("key").doUpdateSet({ value, updated_at: now }))
    .execute();
}

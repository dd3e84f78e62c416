import { type Kysely, sql } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
//
// What a person asked to get of a link's media beyond the link itself (`/audio <url>`: only its
// audio), stored with the item so a retry or a restart keeps it, and with the request it comes
// from so a request checked after a crash keeps it too. One text column of JSON rather than a
// flag per wish: the next wishes (a quality cap, say) are fields of the same object, without a
// migration each. '{}' is the default (the file as it is, a video at the best quality that fits);
// the code writes it in one canonical form, so equal wishes are equal text.
//
// The same link may be open twice in a chat when the wishes differ (its video and its audio): the
// unique index of open URLs takes `wants` in.

// Open as migration 013 left it: an item waiting for a choice keeps its URL too.
const OPEN = sql`status in ('queued', 'downloading', 'uploading', 'paused', 'choosing')`;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("items").addColumn("wants", "text", (c) => c.notNull().defaultTo("{}")).execute();
  await db.schema.alterTable("intake_requests").addColumn("wants", "text", (c) => c.notNull().defaultTo("{}")).execute();
  await sql`drop index items_active_url`.execute(db);
  await sql`create unique index items_active_url on items (chat_id, url, wants) where ${OPEN}`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  // The version before knows no wishes: an item asked for its audio becomes a plain download of
  // its link, and one whose link is open in the chat as a plain download too is cancelled (the
  // index of open URLs could not hold both).
  await sql`update items set status = 'cancelled', finished_at = updated_at
    where wants <> '{}' and ${OPEN} and exists (
      select 1 from items other where other.chat_id = items.chat_id and other.url = items.url
        and other.id <> items.id and other.wants = '{}'
        and other.status in ('queued', 'downloading', 'uploading', 'paused', 'choosing'))`.execute(db);
  await sql`drop index items_active_url`.execute(db);
  await db.schema.alterTable("intake_requests").dropColumn("wants").execute();
  await db.schema.alterTable("items").dropColumn("wants").execute();
  await sql`create unique index items_active_url on items (chat_id, url) where ${OPEN}`.execute(db);
}

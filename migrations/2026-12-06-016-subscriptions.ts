import { type Kysely, sql } from "kysely";

// Migrations are frozen in time: they use Kysely<any> and never import from src/.
export async function up(db: Kysely<any>): Promise<void> {
  // What a chat watches (/watch): a feed, a playlist or a listing page, checked on a schedule that
  // lives here (next_check_at), so a check that fell due while the bot was down runs at the next
  // start. One row per chat and URL: /watch of the same URL again updates it.
  await db.schema
    .createTable("subscriptions")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("chat_id", "integer", (c) => c.notNull())
    .addColumn("user_id", "integer")
    .addColumn("url", "text", (c) => c.notNull())
    // "feed", "playlist" or "listing": null until a check has read it.
    .addColumn("kind", "text")
    .addColumn("name", "text")
    // Exactly one of the two: an interval, or a cron expression.
    .addColumn("every_ms", "integer")
    .addColumn("cron", "text")
    .addColumn("match_filter", "text")
    .addColumn("exclude_filter", "text")
    // How many of the newest entries the first check queues.
    .addColumn("last_n", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_check_at", "integer", (c) => c.notNull())
    .addColumn("checked_at", "integer")
    // When the first check that worked ran: until then the next check is the first.
    .addColumn("baseline_at", "integer")
    // Failed checks in a row, and whether the chat was told it keeps failing.
    .addColumn("failures", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("failure_told", "integer", (c) => c.notNull().defaultTo(0))
    // The last check's outcome as JSON (data, worded by the chat side).
    .addColumn("last_result", "text")
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addColumn("updated_at", "integer", (c) => c.notNull())
    .addCheckConstraint("subscriptions_one_schedule", sql`(every_ms is null) <> (cron is null)`)
    .execute();
  await db.schema.createIndex("subscriptions_chat_url").on("subscriptions").columns(["chat_id", "url"]).unique().execute();
  await db.schema.createIndex("subscriptions_next_check").on("subscriptions").column("next_check_at").execute();

  // Every entry a subscription has seen, once: the primary key is what keeps an entry from being
  // queued twice (a restart, an overlapping check, an entry that comes back), since an entry's
  // row and its item are written in one transaction.
  await db.schema
    .createTable("subscription_entries")
    .addColumn("subscription_id", "integer", (c) => c.notNull().references("subscriptions.id").onDelete("cascade"))
    // The feed's guid, else the entry's URL.
    .addColumn("entry_key", "text", (c) => c.notNull())
    .addColumn("url", "text", (c) => c.notNull())
    .addColumn("title", "text")
    .addColumn("published_at", "integer")
    // "queued", "duplicate" (open in the chat already), "refused", "filtered", "baseline" (there
    // before the subscription).
    .addColumn("outcome", "text", (c) => c.notNull())
    .addColumn("item_id", "integer", (c) => c.references("items.id").onDelete("set null"))
    .addColumn("seen_at", "integer", (c) => c.notNull())
    .addPrimaryKeyConstraint("subscription_entries_pk", ["subscription_id", "entry_key"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("subscription_entries").execute();
  await db.schema.dropTable("subscriptions").execute();
}

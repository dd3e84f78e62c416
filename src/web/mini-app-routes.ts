import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply } from "fastify";

/** The page's files, next to this module (the build copies them into dist/ beside it). */
const PUBLIC_DIR = fileURLToPath(new URL("./public/", import.meta.url));

const FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "view.js": "text/javascript; charset=utf-8",
  "app.css": "text/css; charset=utf-8",
};

/**
 * The page may run its own files and Telegram's Mini App script, and talk to this server only.
 * Telegram opens it in its own view (and web.telegram.org in a frame): no frame rule here.
 */
const POLICY = [
  "default-src 'none'",
  "script-src 'self' https://telegram.org",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/**
 * The Mini App: a page and its script, plain files with no build step, read once at start. They
 * hold no data: the page asks the API for everything, signed in with the `initData` Telegram
 * hands it, which the server checks (`auth.ts`); the page trusts nothing it holds.
 */
export async function miniAppRoutes() {
  const bodies = new Map<string, Buffer>();
  for (const name of Object.keys(FILES)) bodies.set(name, await readFile(`${PUBLIC_DIR}${name}`));
  return async (app: FastifyInstance) => {
    // Relative to the page: a proxy may serve the bot under a path of its own.
    app.get("/app", { schema: { hide: true } }, (_req, reply) => reply.redirect("app/"));
    const serve = (name: string, reply: FastifyReply) => {
      const body = bodies.get(name);
      if (!body) return reply.status(404).send({ error: { code: "NOT_FOUND", message: `nothing at /app/${name}` } });
      return reply
        .header("content-type", FILES[name]!)
        .header("content-security-policy", POLICY)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("cache-control", "no-cache")
        .send(body);
    };
    app.get("/app/", { schema: { hide: true } }, (_req, reply) => serve("index.html", reply));
    app.get<{ Params: { file: string } }>("/app/:file", { schema: { hide: true } }, (req, reply) => serve(req.params.file, reply));
  };
}

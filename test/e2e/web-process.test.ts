import { type ChildProcess, spawnSync } from "node:child_process";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ROOT, buildIfStale, endTest, startBot, writeConfig } from "../support/bot-process.ts";
import { Harness } from "../support/harness.ts";
import { WebClient, freePort } from "../support/web-client.ts";

// What `npm start` does first: build the JavaScript (and copy the Mini App's page beside it).
beforeAll(buildIfStale, 120_000);

let h: Harness | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  h = await endTest(children, h);
});

describe("the web server of the bot process", () => {
  it("serves the Mini App's page, the API and /healthz from the build, and never shows the bot's token", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    const port = await freePort();
    const running = await startBot(h, await writeConfig(h, { web: { port } }), children);
    const web = new WebClient(`http://127.0.0.1:${port}`);

    const page = await web.get("/app/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.headers.get("content-security-policy")).toMatch(/default-src 'none'/);
    expect(page.body).toContain('<script type="module" src="app.js"></script>');
    for (const file of ["app.js", "view.js", "app.css"]) expect((await web.get(`/app/${file}`)).status).toBe(200);
    expect((await web.get("/app/../config.json")).status).toBe(404);
    await h.api.waitForPendingPoll();
    expect((await web.get("/healthz")).body).toEqual({ status: "ok", database: "ok", polling: "ok" });
    // The image's HEALTHCHECK asks that same /healthz when the web server is on.
    const config = await writeConfig(h, { web: { port } });
    const check = spawnSync(process.execPath, ["dist/src/healthcheck.js"], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", CONFIG_FILE: config }, encoding: "utf8" });
    expect({ status: check.status, out: check.stdout }).toEqual({
      status: 0,
      out: `healthy: http://127.0.0.1:${port}/healthz answered 200: {"status":"ok","database":"ok","polling":"ok"}\n`,
    });

    const answers = [
      await web.withAuth(`tma auth_date=1&hash=${"0".repeat(64)}`).get("/api/status"),
      await web.withAuth(`Bearer ${h.api.token}`).get("/api/status"),
      await web.get("/api/openapi.json"),
    ];
    expect(answers.map((a) => a.status)).toEqual([401, 401, 200]);
    const secret = h.api.token.split(":")[1]!;
    for (const answer of answers) expect(JSON.stringify(answer.body)).not.toContain(secret);
    expect(running.output()).toMatch(/web server listening/);
    expect(running.output()).not.toContain(secret);
  });
});

// /docs in a real browser: Debian's Chromium, driven by playwright-core, with every
// request that is not to the loopback server under test blocked. Fails when the page
// tries to reach another host (so it works with no internet), when the endpoint list
// does not render, or when a request run from the page does not answer 200.
//
//   E2E_BASE_URL=http://127.0.0.1:8080 node e2e/docs.test.mjs
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const base = process.env.E2E_BASE_URL;
if (!base) throw new Error("E2E_BASE_URL is not set");
const origin = new URL(base).origin;
const executablePath = process.env.E2E_CHROMIUM || "/usr/bin/chromium";
const screenshot = process.env.E2E_SCREENSHOT || "target/e2e/docs.png";

const userDataDir = mkdtempSync(join(tmpdir(), "ie-e2e-chromium-"));
const blocked = [];
const pageErrors = [];
let context;

function check(cond, message) {
  if (!cond) throw new Error(message);
  console.log(`ok: ${message}`);
}

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 1600 },
    timeout: 60_000,
  });
  // Only the server under test may be reached; everything else is aborted and recorded.
  await context.route("**/*", (route) => {
    const url = route.request().url();
    let allowed = false;
    try {
      const u = new URL(url);
      allowed = u.origin === origin || u.protocol === "data:" || u.protocol === "blob:";
    } catch {
      allowed = false;
    }
    if (allowed) return route.continue();
    blocked.push(url);
    return route.abort("blockedbyclient");
  });

  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  page.on("console", (msg) => {
    if (msg.type() === "error") console.log(`console error: ${msg.text()}`);
  });

  const resp = await page.goto(`${base}/docs`, { waitUntil: "load" });
  check(resp && resp.status() === 200, `GET /docs answers 200 (got ${resp && resp.status()})`);

  // Swagger UI renders operations as .opblock; with docExpansion "none" the tags are
  // collapsed, so open every tag section when no operation is visible yet.
  await page.waitForSelector(".swagger-ui .opblock-tag, .swagger-ui .opblock", { timeout: 30_000 });
  if ((await page.locator(".swagger-ui .opblock").count()) === 0) {
    const tags = page.locator(".swagger-ui .opblock-tag");
    for (let i = 0; i < (await tags.count()); i++) await tags.nth(i).click();
  }
  await page.waitForSelector(".swagger-ui .opblock", { timeout: 30_000 });

  const paths = await page
    .locator(".swagger-ui .opblock .opblock-summary-path")
    .evaluateAll((els) => els.map((e) => e.getAttribute("data-path") || e.textContent.trim()));
  console.log(`operations listed: ${paths.length}`);
  check(paths.includes("/v1/events"), "the page lists /v1/events");
  check(paths.includes("/v1/partnerships"), "the page lists /v1/partnerships");

  // Run GET /v1/events from the page: expand, Try it out, Execute.
  const op = page
    .locator(".swagger-ui .opblock.opblock-get")
    .filter({ has: page.locator('.opblock-summary-path[data-path="/v1/events"]') })
    .first();
  await op.locator(".opblock-summary").first().click();
  await op.locator("button.try-out__btn").click();
  const sent = page.waitForRequest((r) => new URL(r.url()).pathname.startsWith("/v1/"), { timeout: 30_000 });
  await op.locator("button.execute").click();
  const request = await sent;
  const sentPath = new URL(request.url()).pathname;
  check(
    request.method() === "GET" && sentPath === "/v1/events",
    `Execute on GET /v1/events sends GET /v1/events (sent ${request.method()} ${sentPath})`,
  );
  const status = op.locator(".responses-wrapper .live-responses-table tr.response .response-col_status").first();
  await status.waitFor({ timeout: 30_000 });
  const statusText = (await status.textContent()).trim();
  check(/^200\b/.test(statusText), `GET /v1/events from the page answers 200 (got "${statusText}")`);
  const body = await op.locator(".responses-wrapper .live-responses-table tr.response .response-col_description").first().textContent();
  check(body.includes('"data"'), "the response body shown on the page has \"data\"");

  mkdirSync(dirname(screenshot), { recursive: true });
  await op.locator(".responses-wrapper .live-responses-table").first().scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshot, fullPage: false });
  console.log(`screenshot: ${screenshot}`);

  if (pageErrors.length) console.log(`page errors (not fatal):\n  ${pageErrors.join("\n  ")}`);
  check(blocked.length === 0, `the page loaded nothing from another host${blocked.length ? `: ${blocked.join(", ")}` : ""}`);
  console.log("docs: PASS");
} catch (err) {
  console.error(`docs: FAIL: ${err && err.message ? err.message : err}`);
  if (blocked.length) console.error(`blocked requests to other hosts:\n  ${blocked.join("\n  ")}`);
  if (pageErrors.length) console.error(`page errors:\n  ${pageErrors.join("\n  ")}`);
  try {
    const page = context && context.pages()[0];
    if (page) {
      mkdirSync(dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot });
      console.error(`screenshot (at the failure): ${screenshot}`);
    }
  } catch {}
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}

// The pages for people in a real browser: Debian's Chromium, driven by playwright-core,
// with every request that is not to the loopback server under test blocked. Each page
// renders its record with the stylesheet applied, with no script error and no policy
// violation; the skip link is the first stop of the keyboard; the event page fits a
// phone; the tag page reads without JavaScript; and an event posted through the API
// appears on the open tag page within a few seconds, without a reload.
//
//   E2E_BASE_URL=http://127.0.0.1:8080 E2E_TOKEN=... node e2e/pages.test.mjs
// Screenshots: $E2E_SCREENSHOTS (default target/e2e)/pages-*.png, and the tag's chart as
// timeline.svg
import { chromium } from "playwright-core";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const base = process.env.E2E_BASE_URL;
const token = process.env.E2E_TOKEN;
if (!base || !token) throw new Error("E2E_BASE_URL and E2E_TOKEN must be set");
const origin = new URL(base).origin;
const executablePath = process.env.E2E_CHROMIUM || "/usr/bin/chromium";
const shots = process.env.E2E_SCREENSHOTS || "target/e2e";
mkdirSync(shots, { recursive: true });

const blocked = [];
const problems = [];
let browser;

function check(cond, message) {
  if (!cond) throw new Error(message);
  console.log(`ok: ${message}`);
}

async function api(path, init = {}) {
  const res = await fetch(`${base}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers || {}) },
  });
  if (!res.ok) throw new Error(`${init.method || "GET"} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  // Only the server under test may be reached; everything else is aborted and recorded.
  await context.route("**/*", (route) => {
    const url = route.request().url();
    let allowed = false;
    try {
      const u = new URL(url);
      allowed = u.origin === origin || u.protocol === "data:";
    } catch {
      allowed = false;
    }
    if (allowed) return route.continue();
    blocked.push(url);
    return route.abort("blockedbyclient");
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on("pageerror", (err) => problems.push(`page error on ${page.url()}: ${err}`));
  // A Content-Security-Policy violation is reported as a console error.
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error on ${page.url()}: ${msg.text()}`);
  });
  return page;
}

// Opens `path`, checks it is a styled page with `heading` as its h1, and keeps a
// screenshot under `name`.
async function visit(page, path, heading, name) {
  const res = await page.goto(`${base}${path}`, { waitUntil: "load" });
  check(res && res.status() === 200, `GET ${path} answers 200 (got ${res && res.status()})`);
  check(
    res.headers()["content-security-policy"] === "default-src 'self'",
    `${path} has Content-Security-Policy: default-src 'self'`,
  );
  const h1 = (await page.locator("h1").first().textContent()).trim();
  check(h1 === heading, `${path} shows "${heading}" (got "${h1}")`);
  const styled = await page.evaluate(() => getComputedStyle(document.querySelector("header.site")).borderBottomStyle);
  check(styled === "solid", `${path} has its stylesheet applied`);
  for (const landmark of ["header", "nav", "main", "footer", "form[role=search]"]) {
    check((await page.locator(landmark).count()) >= 1, `${path} has a ${landmark} landmark`);
  }
  await page.screenshot({ path: join(shots, `pages-${name}.png`), fullPage: true });
}

try {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 60_000,
  });

  // The demo data's reference story, its companies and its deal.
  const listed = await api("/v1/events?tag=investment&limit=100");
  const story = listed.data.find((e) => e.companies.length > 0 && e.partnerships.length > 0);
  check(story, "the demo data has an investment event with companies and a deal");
  const company = story.companies[0];
  const deal = story.partnerships[0];

  const page = await newPage();
  await visit(page, "/", "What is happening in the industry", "home");
  check((await page.locator("ul.tags a").count()) > 0, "the home page lists tags");

  // The keyboard's first stop is the skip link, and it leads to the main content.
  await page.keyboard.press("Tab");
  const first = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
  check(first === "Skip to content", `the first Tab reaches the skip link (got "${first}")`);

  // Search from the box.
  await page.fill("#q", "Anthropic");
  await Promise.all([page.waitForURL(/\?q=Anthropic/), page.press("#q", "Enter")]);
  check((await page.locator("ul.events li").count()) > 0, "a search from the box finds events");

  await visit(page, `/events/${story.slug}`, story.title, "event");
  const text = await page.locator("main").innerText();
  for (const part of ["What happened", "Why it matters", company.name, deal.title]) {
    check(text.includes(part), `the event page shows "${part}"`);
  }
  await visit(page, `/companies/${company.slug}`, company.name, "company");
  await visit(page, `/partnerships/${deal.slug}`, deal.title, "partnership");

  // The event page on a phone: nothing wider than the screen.
  const phone = await newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await phone.goto(`${base}/events/${story.slug}`, { waitUntil: "load" });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the event page fits a 390 px wide phone (overflow ${overflow} px)`);
  await phone.screenshot({ path: join(shots, "pages-event-phone.png"), fullPage: true });

  // Without JavaScript the tag page still lists its events.
  const plain = await newPage({ javaScriptEnabled: false });
  await plain.goto(`${base}/tags/investment`, { waitUntil: "load" });
  check((await plain.locator("#events li").count()) > 0, "the tag page lists events without JavaScript");

  // Live: the tag page's list gets an event posted after the page was rendered.
  await visit(page, "/tags/investment", "Events tagged investment", "tag");
  const chart = await page.evaluate(() => {
    const img = document.querySelector("figure.chart img");
    return img && img.complete && img.naturalWidth;
  });
  check(chart > 0, "the tag page's chart loaded");
  const svg = await fetch(`${base}/v1/events/timeline.svg?tag=investment&interval=month`);
  writeFileSync(join(shots, "timeline.svg"), await svg.text());
  await page.waitForFunction(() => document.getElementById("live-status").textContent.startsWith("Live"), null, {
    timeout: 15_000,
  });
  const title = `Live check ${Date.now()}`;
  const today = new Date().toISOString().slice(0, 10);
  const posted = Date.now();
  await api("/v1/events", {
    method: "POST",
    body: JSON.stringify({
      title,
      occurred_on: today,
      category: "funding",
      significance: "minor",
      summary: "Posted by the browser check.",
      what_happened: "A test event.",
      why_it_matters: "It proves the tag page is live.",
      tags: ["investment"],
    }),
  });
  await page.locator("#events li").first().getByText(title).waitFor({ timeout: 10_000 });
  check(true, `the posted event is first on the tag page ${Date.now() - posted} ms after its POST`);
  await page.screenshot({ path: join(shots, "pages-tag-live.png"), fullPage: false });

  check(problems.length === 0, `no script error and no policy violation${problems.length ? `:\n  ${problems.join("\n  ")}` : ""}`);
  check(blocked.length === 0, `nothing was loaded from another host${blocked.length ? `: ${blocked.join(", ")}` : ""}`);
  console.log("pages: PASS");
} catch (err) {
  console.error(`pages: FAIL: ${err && err.message ? err.message : err}`);
  if (blocked.length) console.error(`blocked requests to other hosts:\n  ${blocked.join("\n  ")}`);
  if (problems.length) console.error(`problems:\n  ${problems.join("\n  ")}`);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
}

// A client generated from the live /openapi.json (openapi-typescript types + openapi-fetch):
// create an event with the bearer token, then list events by its tag and find it there.
// `tsc --noEmit` typechecks this file against the generated types, so a spec that no
// longer matches what clients send or read fails CI.
//
//   E2E_BASE_URL=http://127.0.0.1:8080 E2E_TOKEN=... npx tsx client.ts
import createClient from "openapi-fetch";
import type { paths } from "./generated/api.d.ts";

const baseUrl = process.env.E2E_BASE_URL;
const token = process.env.E2E_TOKEN;
if (!baseUrl || !token) throw new Error("E2E_BASE_URL and E2E_TOKEN must be set");

const client = createClient<paths>({ baseUrl });
const tag = `e2e-client-${Date.now().toString(36)}`;

function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
  console.log(`ok: ${message}`);
}

const created = await client.POST("/v1/events", {
  headers: { Authorization: `Bearer ${token}` },
  body: {
    title: "Amazon completes $4 billion investment in Anthropic (generated client)",
    occurred_on: "2024-03-27",
    category: "industry",
    significance: "major",
    summary: "Amazon completes the $4 billion it committed to Anthropic in 2023.",
    tags: [tag, "investment"],
    sources: [{ url: "https://www.aboutamazon.com/news", title: "Amazon" }],
  },
});
check(created.response.status === 201, `POST /v1/events answers 201 (got ${created.response.status})`);
check(created.data, "POST /v1/events returns the event");
const event = created.data;
check(event.tags.includes(tag), `the created event has the tag ${tag}`);
console.log(`created ${event.slug} (${event.id})`);

const listed = await client.GET("/v1/events", { params: { query: { tag: [tag] } } });
check(listed.response.status === 200, `GET /v1/events?tag=${tag} answers 200 (got ${listed.response.status})`);
check(listed.data, "GET /v1/events returns a list");
const ids = listed.data.data.map((e) => e.id);
check(ids.includes(event.id), `the created event is in the list by tag (${ids.length} listed)`);
check(listed.data.next_cursor === null, "a one-event list has next_cursor null");
console.log("client: PASS");

"""The live side against the real binary (e2e/run.sh, part `live`).

- The Atom feed is read by feedparser, the parser most feed readers' authors test
  against: no parse problem (`bozo`), and every entry has what the contract lists.
- The JSON Feed has the members JSON Feed 1.1 requires.
- A stream (`GET /v1/events/stream`, read over a real socket as `curl -N` would) gets a
  write made through the API as an `event: created` message with a position id, and a
  stream resumed from that id with `Last-Event-ID` gets the next write and nothing twice.
- A long poll from a position answers when a write arrives.

Uses E2E_BASE_URL and E2E_TOKEN; standard library and feedparser only.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import feedparser

BASE = os.environ["E2E_BASE_URL"]
TOKEN = os.environ["E2E_TOKEN"]
HOST = urllib.parse.urlsplit(BASE)


def fail(message: str) -> None:
    print(f"live: FAIL {message}", file=sys.stderr)
    sys.exit(1)


def get(path: str, headers: dict | None = None):
    """Status, headers (looked up case-insensitively) and body."""
    request = urllib.request.Request(BASE + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def create(title: str, tag: str) -> dict:
    body = json.dumps(
        {"title": title, "occurred_on": "2024-05-01", "category": "industry",
         "significance": "minor", "summary": f"{title}.", "tags": [tag]}
    ).encode()
    request = urllib.request.Request(
        BASE + "/v1/events", data=body, method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 201:
            fail(f"POST /v1/events answered {response.status}")
        return json.loads(response.read())


def check_atom() -> None:
    status, headers, body = get("/v1/feeds/events.atom?limit=10")
    if status != 200 or headers.get("Content-Type") != "application/atom+xml":
        fail(f"atom feed: {status} {headers.get('Content-Type')}")
    feed = feedparser.parse(body)
    if feed.bozo:
        fail(f"atom feed does not parse cleanly: {feed.bozo_exception}")
    if feed.version != "atom10" or not feed.entries:
        fail(f"atom feed: version {feed.version}, {len(feed.entries)} entries")
    for entry in feed.entries:
        for field in ("id", "title", "link", "published", "updated", "content"):
            if not entry.get(field):
                fail(f"atom entry {entry.get('id')} lacks {field}")
        if not entry.id.startswith("urn:uuid:"):
            fail(f"atom entry id {entry.id}")
        # A summary is optional in Atom: there when the event has one (the feed may hold
        # events made by the schemathesis part, some without; feedparser then fills the
        # entry's summary from its content, so only this direction can be checked).
        _, _, event_body = get(f"/v1/events/{entry.id.removeprefix('urn:uuid:')}")
        summary = json.loads(event_body).get("summary") or ""
        if any(ch.isalnum() for ch in summary) and not entry.get("summary"):
            fail(f"atom entry {entry.id} lacks the event's summary {summary[:40]!r}")
    etag = headers.get("ETag")
    status, _, _ = get("/v1/feeds/events.atom?limit=10", {"If-None-Match": etag})
    if status != 304:
        fail(f"atom feed with its ETag answered {status}, not 304")
    print(f"live: atom feed parses (feedparser {feedparser.__version__}), {len(feed.entries)} entries, 304 on its ETag")


def check_json_feed() -> None:
    status, headers, body = get("/v1/feeds/events.json?limit=10")
    if status != 200 or headers.get("Content-Type") != "application/feed+json":
        fail(f"json feed: {status} {headers.get('Content-Type')}")
    feed = json.loads(body)
    if feed.get("version") != "https://jsonfeed.org/version/1.1" or not feed.get("title"):
        fail("json feed lacks version or title")
    if not isinstance(feed.get("items"), list) or not feed["items"]:
        fail("json feed has no items")
    for item in feed["items"]:
        if not item.get("id") or not (item.get("content_text") or item.get("content_html")):
            fail(f"json feed item lacks id or content: {item}")
    print(f"live: json feed has the required members, {len(feed['items'])} items")


class Stream:
    """An SSE stream over a plain socket, read line by line."""

    def __init__(self, path: str, headers: dict | None = None) -> None:
        self.connection = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=15)
        self.connection.request("GET", path, headers=headers or {})
        self.response = self.connection.getresponse()

    def next_message(self) -> dict:
        message: dict = {}
        while True:
            line = self.response.fp.readline().decode()
            if line == "":
                fail("the stream ended")
            line = line.rstrip("\n")
            if line == "":
                if "event" in message:
                    return message
                message = {}
                continue
            field, _, value = line.partition(":")
            if field:
                message[field] = value.removeprefix(" ")

    def close(self) -> None:
        self.connection.close()


def check_stream() -> None:
    tag = f"e2e-live-{int(time.time())}"
    stream = Stream(f"/v1/events/stream?tag={tag}")
    if stream.response.status != 200:
        fail(f"stream answered {stream.response.status}")
    content_type = stream.response.getheader("Content-Type")
    if content_type != "text/event-stream" or stream.response.getheader("X-Accel-Buffering") != "no":
        fail(f"stream headers: {content_type}, {stream.response.getheader('X-Accel-Buffering')}")
    time.sleep(0.3)
    first = create("Live one", tag)
    message = stream.next_message()
    if message.get("event") != "created" or json.loads(message["data"])["id"] != first["id"]:
        fail(f"stream sent {message}")
    last_id = message["id"]
    stream.close()
    second = create("Live two", tag)
    resumed = Stream(f"/v1/events/stream?tag={tag}", {"Last-Event-ID": last_id})
    message = resumed.next_message()
    if message.get("event") != "created" or json.loads(message["data"])["id"] != second["id"]:
        fail(f"resumed stream sent {message} instead of the next write")
    resumed.close()
    print("live: a write reaches an open stream; a resumed stream gets the next write once")


def check_long_poll() -> None:
    tag = f"e2e-poll-{int(time.time())}"
    status, headers, _ = get(f"/v1/events?tag={tag}")
    position = headers.get("Next-Updated-Since")
    if status != 200 or not position:
        fail("no Next-Updated-Since on a list")
    threading.Timer(0.5, create, args=("Polled", tag)).start()
    began = time.monotonic()
    query = urllib.parse.urlencode({"tag": tag, "updated_since": position, "wait": 20})
    status, _, body = get(f"/v1/events?{query}")
    titles = [e.get("title") for e in json.loads(body)["data"]]
    if status != 200 or titles != ["Polled"]:
        fail(f"long poll answered {status} {titles}")
    print(f"live: a long poll answered the write after {time.monotonic() - began:.1f} s")


if __name__ == "__main__":
    check_atom()
    check_json_feed()
    check_stream()
    check_long_poll()

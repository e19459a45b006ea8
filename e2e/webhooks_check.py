"""Webhooks against the real binary (e2e/run.sh, part `webhooks`), verified by an
implementation that is not ours: the `standardwebhooks` package from PyPI.

- A receiver on loopback (allowed by WEBHOOK_ALLOWED_NETWORKS, which run.sh sets) is
  subscribed to events tagged `e2e-webhook`; an event POSTed through the API arrives,
  and `Webhook(secret).verify` accepts its signature, timestamp and id. A tampered body
  and a wrong secret are refused by the same library.
- An event without the tag is not sent.
- After `rotate-secret`, a message verifies with the new secret and with the old one
  (both sign during the overlap).
- `ping` arrives and verifies; the delivery log shows every attempt as succeeded.

Uses E2E_BASE_URL and E2E_TOKEN (an admin token); standard library and standardwebhooks.
"""

from __future__ import annotations

import http.server
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

BASE = os.environ["E2E_BASE_URL"]
TOKEN = os.environ["E2E_TOKEN"]
TAG = "e2e-webhook"


def fail(message: str) -> None:
    print(f"webhooks: FAIL {message}", file=sys.stderr)
    sys.exit(1)


def call(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {TOKEN}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else {}


class Received:
    """What the receiver got, in order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[dict, bytes]] = []

    def add(self, headers: dict, body: bytes) -> None:
        with self.lock:
            self.items.append((headers, body))

    def wait_for(self, count: int, seconds: float = 15) -> list[tuple[dict, bytes]]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.items) >= count:
                    return list(self.items)
            time.sleep(0.05)
        with self.lock:
            fail(f"waited for {count} webhook requests, got {len(self.items)}")
        return []


RECEIVED = Received()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        RECEIVED.add({k.lower(): v for k, v in self.headers.items()}, body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:  # quiet
        pass


def verify(secret: str, headers: dict, body: bytes) -> dict:
    return Webhook(secret).verify(body, headers)


def event(title: str, tags: list[str]) -> dict:
    return {
        "title": title,
        "occurred_on": "2024-03-27",
        "category": "funding",
        "significance": "landmark",
        "summary": "Sent to a webhook.",
        "tags": tags,
    }


def main() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"

    status, subscription = call(
        "POST",
        "/v1/webhooks",
        {"url": url, "types": ["event.created", "event.updated"], "filter": {"tag": [TAG]},
         "description": "e2e receiver"},
    )
    if status != 201:
        fail(f"POST /v1/webhooks: {status} {subscription}")
    sid, secret = subscription["id"], subscription["secret"]

    status, created = call("POST", "/v1/events", event("Webhook e2e: sent", [TAG, "ai"]))
    if status != 201:
        fail(f"POST /v1/events: {status} {created}")
    call("POST", "/v1/events", event("Webhook e2e: not sent", ["ai"]))
    headers, body = RECEIVED.wait_for(1)[0]
    payload = verify(secret, headers, body)
    if payload.get("type") != "event.created" or payload["data"]["id"] != created["id"]:
        fail(f"unexpected message: {payload}")
    if payload["data"] != created:
        fail("the message's data is not the record as the API answered it")
    print(f"webhooks: event.created verified by standardwebhooks ({headers['webhook-id']})")

    for name, check in [
        ("a tampered body", lambda: verify(secret, headers, body.replace(b"sent", b"SENT"))),
        ("another secret", lambda: verify("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", headers, body)),
        ("a changed id", lambda: verify(secret, {**headers, "webhook-id": "msg_other"}, body)),
    ]:
        try:
            check()
        except WebhookVerificationError:
            continue
        fail(f"{name} verified")

    status, rotated = call("POST", f"/v1/webhooks/{sid}/rotate-secret")
    if status != 200 or not rotated.get("secret", "").startswith("whsec_"):
        fail(f"rotate-secret: {status} {rotated}")
    status, _ = call("PATCH", f"/v1/events/{created['id']}", {"summary": "Rotated."})
    if status != 200:
        fail(f"PATCH /v1/events: {status}")
    headers, body = RECEIVED.wait_for(2)[1]
    for which, key in [("new", rotated["secret"]), ("old", secret)]:
        message = verify(key, headers, body)
        if message["type"] != "event.updated" or message["data"]["summary"] != "Rotated.":
            fail(f"unexpected message: {message}")
    print("webhooks: after rotation the message verifies with the new and the old secret")

    status, queued = call("POST", f"/v1/webhooks/{sid}/ping")
    if status != 202:
        fail(f"ping: {status} {queued}")
    headers, body = RECEIVED.wait_for(3)[2]
    ping = verify(rotated["secret"], headers, body)
    if ping["type"] != "webhook.ping" or headers["webhook-id"] != queued["message_id"]:
        fail(f"unexpected ping: {ping} {headers}")
    print("webhooks: ping verified")

    time.sleep(0.5)
    if len(RECEIVED.items) != 3:
        fail(f"expected 3 requests (the untagged event is not sent), got {len(RECEIVED.items)}")
    deadline = time.monotonic() + 10
    while True:
        status, log = call("GET", f"/v1/webhooks/{sid}/deliveries")
        statuses = [d["status"] for d in log.get("data", [])]
        if statuses == ["succeeded"] * 3:
            break
        if time.monotonic() > deadline:
            fail(f"delivery log: {status} {log}")
        time.sleep(0.1)
    call("DELETE", f"/v1/webhooks/{sid}")
    server.shutdown()
    print("webhooks: OK")


if __name__ == "__main__":
    main()

"""Schemathesis hooks for e2e/run.sh (loaded through SCHEMATHESIS_HOOKS).

`--checks all` includes positive_data_acceptance (ST202): a request that matches the
schema must not be rejected. Some of this API's rules cannot be written in JSON Schema:
they depend on the database or on several fields at once. A rejection for exactly one of
those reasons is the documented behaviour (the contract, README), not a spec bug, so it is
dropped here, and only here. Every other rejection of schema-valid data still fails,
including rules a schema *can* express (lengths, patterns, formats): those mean the spec
is missing a constraint.

Dropped (ST202, schema-valid data rejected):
  - 400 on `cursor` "is not a cursor this service issued": cursors are opaque, only ones
    the server issued are valid; a generator cannot make one.
  - 400 on `interval` when `from`, `to` and `interval` together would make a timeline of
    more than 1,000 buckets (a rule across three parameters).
  - 400 on `updated_since` with a position-shaped value this service did not issue (its
    origin names another database, or its snapshot is impossible): positions, like
    cursors, are only valid when issued.
  - 400 on a query parameter naming a record that does not exist (`company=x`: "no company
    matches"), needing another parameter (`role` needs `company`), or `from` after `to`.
  - 422 whose every error is a cross-record or cross-field rule: a reference to a record
    that does not exist ("no company matches `x`"), a party listed twice, an
    Idempotency-Key reused with another body, tranches in different currencies, `total`
    against the tranches (currency, sum), `ended_on` before `announced_on`.
  - 412: If-Match against an ETag the generator cannot know.
  - 410 `resync-required`: an `updated_since` time older than the tombstone horizon (now
    minus TOMBSTONE_RETENTION_DAYS), a rule about the current time.
  - 422 on a webhook's `url` for what only the network can say: its host does not
    resolve (these machines have no DNS), or resolves to an address webhooks may not
    reach (`https://0`, a name for 10.0.0.1), or, for the hosts a URL parser reads by
    IDNA rules (`https://a..b`), is not a valid URL.
  - On the import routes (`POST .../import`), whose body the document can only call a
    string of NDJSON or CSV: a 400 for a CSV header row naming a field that does not
    exist (or one twice, or none) or bytes no CSV reader can read, and a 422
    `import-rejected` (the records break the rules of `POST`, each named by line).
Dropped (ST201, schema-violating data accepted), where the answer is still a rejection:
  - 412: the precondition is checked before the content is read (RFC 9110, 13.2.1).
  - 413: a body over MAX_BODY_BYTES is refused before it is parsed.
Dropped (ST301, a deleted resource still available), for revisions only:
  - `GET /v1/{events,companies,partnerships}/{id}/revisions` keeps answering 200 after the
    record is deleted, newest entry first being its `delete` (who deleted it, what it
    was): the history outlives the record by design.
Also: every valid generated Idempotency-Key is made unique (see `map_headers`), and a
long poll's `wait` is cut to 1 s (see `map_query`). `GET /v1/events/stream` is left out
(`--exclude-path` in run.sh): a valid request is a stream that never ends; the Rust tests
and the `live` part cover it.
"""

from __future__ import annotations

import json
import re

import schemathesis

# Messages of rules that JSON Schema cannot express (see the module docstring).
CROSS_RULES = [
    re.compile(r"^no [a-z ]+ matches "),
    re.compile(r"^is listed twice"),
    re.compile(r"^was already used with a different request"),
    re.compile(r"^is in [A-Z]{3} but the tranches are in [A-Z]{3}$"),
    re.compile(r"^is [0-9.]+ [A-Z]{3} but the tranches add up to "),
    re.compile(r"^is .* but the tranches add up to "),
    re.compile(r"^the sum of the tranches is too large$"),
    re.compile(r"^every tranche must be in the same currency"),
    re.compile(r"^must not be before `[a-z_]+`$"),
    re.compile(r"^must not be after `[a-z_]+`$"),
]


# 400 details (query parameters) of rules that JSON Schema cannot express.
QUERY_RULES = [
    re.compile(r"^query parameter `cursor` is invalid: is not a cursor this service issued$"),
    re.compile(r"^query parameter `[a-z_]+` is invalid: no [a-z ]+ matches "),
    re.compile(r"^query parameter `[a-z_]+` is invalid: needs `[a-z_]+`"),
    re.compile(r"^query parameter `[a-z_]+` is invalid: must not be (after|before) `[a-z_]+`$"),
    # A position is a snapshot of this database's transactions: one of the right shape
    # that this service did not issue (another origin, impossible numbers) is refused.
    re.compile(r"^query parameter `updated_since` is invalid: is not a position this service issued$"),
    re.compile(r"^query parameter `updated_since` is invalid: is a position from another database"),
    # A timeline's bucket count depends on `from`, `to` and `interval` together.
    re.compile(r"^query parameter `interval` is invalid: would make more than 1000 buckets"),
]


# 422 messages on a webhook's `url` that depend on name resolution and address rules.
WEBHOOK_URL_RULES = [
    re.compile(r"^`[^`]*` could not be resolved"),
    re.compile(r"^`[^`]*` did not resolve within"),
    re.compile(r"^`[^`]*` resolves to no address$"),
    re.compile(r"leads to an address webhooks may not reach: "),
    re.compile(r"^is not a valid URL \("),
]


# 400 details of an import's body (a CSV header row, unreadable bytes): the document
# describes the body as a string, which no schema can narrow to a valid file.
IMPORT_RULES = [
    re.compile(r"^the header row names `.*`, which is not a field"),
    re.compile(r"^the header row names `.*` twice$"),
    re.compile(r"^column [0-9]+ of the header row has no name$"),
    re.compile(r"^(line [0-9]+: )?the CSV cannot be read"),
    re.compile(r"^the body could not be read"),
]


def _problem(response) -> dict | None:
    try:
        body = json.loads(response.content or b"")
    except (ValueError, AttributeError):
        return None
    return body if isinstance(body, dict) else None


def _is_documented_rule(response) -> bool:
    problem = _problem(response)
    if problem is None:
        return False
    status = response.status_code
    if status == 412:
        # If-Match is compared with the current ETag, which a generator cannot know; RFC 9110
        # lets a server evaluate it before it reads the content.
        return str(problem.get("type", "")).endswith(":precondition-failed")
    kind = str(problem.get("type", ""))
    if status == 400:
        detail = str(problem.get("detail", ""))
        if kind.endswith(":bad-request") and any(rule.search(detail) for rule in IMPORT_RULES):
            return True
        return problem.get("parameter") is not None and any(rule.search(detail) for rule in QUERY_RULES)
    if status == 422 and kind.endswith(":import-rejected"):
        return True
    if status == 410:
        # An `updated_since` older than the tombstone horizon (now minus
        # TOMBSTONE_RETENTION_DAYS): a rule about the current time.
        return kind.endswith(":resync-required")
    if status == 422:
        errors = problem.get("errors") or []

        def documented(error: dict) -> bool:
            message = str(error.get("message", ""))
            if error.get("field") == "url" and any(r.search(message) for r in WEBHOOK_URL_RULES):
                return True
            return any(rule.search(message) for rule in CROSS_RULES)

        return bool(errors) and all(documented(e) for e in errors)
    return False


@schemathesis.hook
def filter_failure(ctx, failure, case, response) -> bool:
    """Keep every failure except rejections for a documented rule no schema can express."""
    code = getattr(failure, "code", None)
    if response is None:
        return True
    if code == "ST202" and _is_documented_rule(response):
        return False
    # A schema-violating request answered 412: the precondition is checked before the
    # content is read (allowed by RFC 9110 section 13.2.1), and 412 is still a rejection.
    if code == "ST201" and response.status_code == 412 and _is_documented_rule(response):
        return False
    # A schema-violating request whose body is over MAX_BODY_BYTES is rejected with 413
    # before it is parsed: still a rejection.
    if code == "ST201" and response.status_code == 413:
        return False
    # A deleted record's history, ending with its delete, stays readable by id.
    if code == "ST301" and response.status_code == 200 and _is_history_of_a_delete(case, response):
        return False
    return True


def _is_history_of_a_delete(case, response) -> bool:
    path = str(getattr(getattr(case, "operation", None), "path", ""))
    if not path.endswith("/revisions"):
        return False
    try:
        entries = json.loads(response.content or b"").get("data") or []
    except (ValueError, AttributeError):
        return False
    return bool(entries) and entries[0].get("action") == "delete"


_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_key_counter = 0


@schemathesis.hook
def map_headers(ctx, headers):
    """Give every generated request its own Idempotency-Key when the generated one is valid.

    The generator repeats values, and the server (as designed) answers a repeated key with
    the first answer, or 422 when the body differs. That replays resources that were since
    deleted (ST302) and rejects schema-valid data (ST202) for reasons that are about the
    generator, not the API; idempotent replays are covered by the Rust tests. Keys that are
    not valid (empty, non-ASCII, too long) are left alone so they still reach the server.
    """
    global _key_counter
    if not headers:
        return headers
    for name in list(headers):
        if name.lower() == "idempotency-key" and isinstance(headers[name], str) and _VALID_KEY.match(headers[name]):
            _key_counter += 1
            headers[name] = f"e2e-{_key_counter}-{headers[name]}"[:255]
    return headers


@schemathesis.hook
def map_query(ctx, query):
    """Cut a long poll's `wait` to one second.

    A valid `wait` with a valid `updated_since` and nothing changing holds the answer for
    up to 60 s, by design; the run would spend its time waiting. The bounds (1 to 60) are
    still sent as generated when they are out of range, so their 400s are still checked.
    """
    if query and "wait" in query:
        value = query["wait"]
        if isinstance(value, int) and 1 <= value <= 60:
            query["wait"] = 1
    return query

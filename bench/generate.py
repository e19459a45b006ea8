#!/usr/bin/env python3
"""Streams the benchmark data set as CSV for PostgreSQL COPY.

Usage: generate.py TABLE EVENTS [SHARD/SHARDS]
TABLE: companies, partnerships, parties, events, event_companies, event_partnerships,
or import-events (the events as NDJSON for an import).

Deterministic: rows come in blocks of 10,000, each drawn from its own seeded generator,
so the same EVENTS gives the same data however many shards stream it in parallel
(shard s of n streams the blocks b with b % n == s). Ids are UUID v7, time-ordered like
real ones, and derived from the row number, so link tables are written with ids
directly and need no join at load time.

The shape: tags follow a Zipf-like skew over 500 tags, 1 to 6 an event; text is drawn
Zipf-like from a vocabulary of about 7,000 words (English stop words first, then the
industry's words, then rarer filler), so full-text queries are as selective as on
real news rather than matching a quarter of all events. Texts are as long as the
reference story's: a title of 6 to 12 words, a summary of about 50, what happened
about 300 and why it matters about 150, some 3 KB an event. With BENCH_TEXT=short the
three texts are about a fifth as long (some 700 bytes an event, like the shorter real
stories), and with BENCH_TEXT=news some 950 bytes (a two-sentence summary, a paragraph
of what happened, two sentences of why it matters: the size of a typical news item),
for rates on events of those sizes.
"""
import csv
import hashlib
import itertools
import json
import os
import random
import sys
import uuid
from datetime import date, timedelta

TAGS = 500
# Word counts of summary, what happened and why it matters (see BENCH_TEXT above).
TEXT_LENGTHS = {
    "full": ((6, 11), (40, 60), (20, 30)),
    "short": ((2, 4), (8, 12), (4, 6)),
    "news": ((3, 5), (10, 16), (5, 7)),
}[os.environ.get("BENCH_TEXT", "full")]
COMPANIES = 10_000
PARTNERSHIPS = 50_000
BLOCK = 10_000
BASE_MS = 1_704_067_200_000  # 2024-01-01
STOP_WORDS = "the of and to in a with for on as by its at from that is was".split()
INDUSTRY_WORDS = """
anthropic openai amazon google microsoft nvidia meta apple mistral cohere xai deepmind
investment funding round billion million stake valuation investor shares equity
chips gpu accelerator datacenter cloud compute capacity supercomputer cluster power
model training inference release launch benchmark research paper safety alignment
policy regulator antitrust review competition authority commission inquiry approval
partnership agreement deal acquisition merger licensing distribution customer supplier
europe united states china japan india britain france germany korea canada
lawsuit court ruling copyright settlement fine investigation guidance framework act
enterprise product api agents assistant platform developers revenue growth pricing
""".split()
FILLER = [a + b + c for a in ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "be", "do", "fu", "gi")
          for b in ("ran", "tel", "mos", "vik", "dun", "pal", "sor", "gem", "hul", "nix", "bor", "cas")
          for c in ("a", "o", "is", "en", "um", "ar", "ic", "e", "ix", "on", "ul", "es")
          for d in ("", "ta", "mi", "ro")]
VOCABULARY = STOP_WORDS + INDUSTRY_WORDS + FILLER
CATEGORIES = ["industry", "funding", "policy", "research", "product", "legal", "other"]
KINDS = ["ai_lab", "cloud_provider", "chipmaker", "investor", "regulator", "enterprise", "other"]
DEAL_KINDS = ["investment", "cloud", "chips", "distribution", "acquisition", "licensing", "research", "other"]
STATUSES = ["announced", "active", "completed", "under_review", "ended"]
ROLES = ["investor", "investee", "partner", "subject", "customer", "supplier"]
TAG_WEIGHTS = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(TAGS)))
WORD_WEIGHTS = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(VOCABULARY))))


def v7(kind, n):
    """The UUID v7 of row `n` of `kind`: its time part grows with n (1 ms a row)."""
    ms = BASE_MS + n
    rand = int.from_bytes(hashlib.blake2b(f"{kind}{n}".encode(), digest_size=10).digest(), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 68) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def zipf_tags(rng):
    count = rng.randint(1, 6)
    picked = set()
    while len(picked) < count:
        picked.add(rng.choices(range(TAGS), cum_weights=TAG_WEIGHTS)[0])
    return "{" + ",".join(f"tag-{t}" for t in sorted(picked)) + "}"


def phrases(seed):
    """A pool of six-word phrases drawn word by word with the Zipf-like skew; texts are
    built from them, which keeps word frequencies Zipf-like and generation fast."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(VOCABULARY, cum_weights=WORD_WEIGHTS, k=6)) for _ in range(20_000)]


def blocks(total, shard, shards):
    for block in range(shard, (total + BLOCK - 1) // BLOCK, shards):
        yield block, range(block * BLOCK, min(total, (block + 1) * BLOCK))


def company_rows():
    rng = random.Random("companies")
    for i in range(COMPANIES):
        yield [v7("company", i), f"company-{i}", f"Company {i} {rng.choice(INDUSTRY_WORDS).title()}",
               rng.choice(KINDS), rng.choice(["US", "GB", "FR", "DE", "JP", ""]) or None,
               f"https://company-{i}.example.com", f"Company {i} of the benchmark.", "{}"]


def event_links(events, shard, shards):
    """(event number, [(company, role, position)], [deal]) for each event of the shard; the
    link tables and the links the event row keeps (as JSON) come from this one place."""
    for block, rows in blocks(events, shard, shards):
        companies_rng = random.Random(f"event-companies-{block}")
        deals_rng = random.Random(f"event-partnerships-{block}")
        for i in rows:
            companies = [(company, companies_rng.choice(ROLES), position) for position, company
                         in enumerate(companies_rng.sample(range(COMPANIES), companies_rng.randint(1, 3)))]
            deals = [deals_rng.randrange(PARTNERSHIPS)] if i % 10 == 0 else []
            yield i, companies, deals


def main():
    table, events = sys.argv[1], int(sys.argv[2])
    shard, shards = (int(x) for x in (sys.argv[3] if len(sys.argv) > 3 else "0/1").split("/"))
    out = csv.writer(sys.stdout, lineterminator="\n")
    if table == "companies":
        out.writerows(company_rows())
    elif table == "partnerships":
        rng = random.Random("partnerships")
        for i in range(PARTNERSHIPS):
            announced = date(2015, 1, 1) + timedelta(days=rng.randrange(3650))
            out.writerow([v7("deal", i), f"deal-{i}", f"Deal {i}", rng.choice(DEAL_KINDS), rng.choice(STATUSES),
                          announced.isoformat(), rng.randrange(1, 10_000) * 1_000_000, "USD", "{}", "f",
                          "{" + f"tag-{rng.randrange(50)}" + "}"])
    elif table == "parties":
        rng = random.Random("parties")
        for i in range(PARTNERSHIPS):
            a, b = rng.sample(range(COMPANIES), 2)
            out.writerow([v7("deal", i), v7("company", a), "investor", 0])
            out.writerow([v7("deal", i), v7("company", b), "investee", 1])
    elif table == "events":
        pool = phrases("phrases")
        names = [row[2] for row in company_rows()]
        links = event_links(events, shard, shards)
        for block, rows in blocks(events, shard, shards):
            rng = random.Random(f"events-{block}")
            for i in rows:
                _, companies, deals = next(links)
                companies_json = json.dumps([{"id": v7("company", c), "slug": f"company-{c}", "name": names[c],
                                              "role": role} for c, role, _ in companies])
                deals_json = json.dumps([{"id": v7("deal", d), "slug": f"deal-{d}", "title": f"Deal {d}"}
                                         for d in deals])
                occurred = date(2015, 1, 1) + timedelta(days=rng.randrange(3650))
                title = " ".join(rng.choices(pool, k=rng.randint(1, 2)))
                summary = rng.choices(pool, k=rng.randint(*TEXT_LENGTHS[0]))
                happened = rng.choices(pool, k=rng.randint(*TEXT_LENGTHS[1]))
                matters = rng.choices(pool, k=rng.randint(*TEXT_LENGTHS[2]))
                out.writerow([v7("event", i), f"ev-{i}", f"Event {i}: {title}", occurred.isoformat(),
                              rng.choice(CATEGORIES), rng.randrange(4), " ".join(summary).capitalize() + ".",
                              " ".join(happened).capitalize() + ".", " ".join(matters).capitalize() + ".",
                              zipf_tags(rng), "[]", companies_json, deals_json])
    elif table == "import-events":
        # The same events as `events`, one JSON document a line as POST takes them (and
        # as an import reads them): companies by slug with roles, deals by slug.
        pool = phrases("phrases")
        links = event_links(events, shard, shards)
        significance = ["minor", "notable", "major", "landmark"]
        for block, rows in blocks(events, shard, shards):
            rng = random.Random(f"events-{block}")
            for i in rows:
                _, companies, deals = next(links)
                occurred = date(2015, 1, 1) + timedelta(days=rng.randrange(3650))
                title = " ".join(rng.choices(pool, k=rng.randint(1, 2)))
                summary = rng.choices(pool, k=rng.randint(*TEXT_LENGTHS[0]))
                happened = rng.choices(pool, k=rng.randint(*TEXT_LENGTHS[1]))
                matters = rng.choices(pool, k=rng.randint(*TEXT_LENGTHS[2]))
                sys.stdout.write(json.dumps({
                    "id": v7("event", i), "slug": f"ev-{i}", "title": f"Event {i}: {title}",
                    "occurred_on": occurred.isoformat(), "category": rng.choice(CATEGORIES),
                    "significance": significance[rng.randrange(4)],
                    "summary": " ".join(summary).capitalize() + ".",
                    "what_happened": " ".join(happened).capitalize() + ".",
                    "why_it_matters": " ".join(matters).capitalize() + ".",
                    "tags": zipf_tags(rng)[1:-1].split(","),
                    "companies": [{"company": f"company-{c}", "role": role} for c, role, _ in companies],
                    "partnerships": [f"deal-{d}" for d in deals],
                }) + "\n")
    elif table == "event_companies":
        for i, companies, _ in event_links(events, shard, shards):
            for company, role, position in companies:
                out.writerow([v7("event", i), v7("company", company), role, position])
    elif table == "event_partnerships":
        for i, _, deals in event_links(events, shard, shards):
            for position, deal in enumerate(deals):
                out.writerow([v7("event", i), v7("deal", deal), position])
    else:
        sys.exit(f"unknown table {table}")


if __name__ == "__main__":
    main()

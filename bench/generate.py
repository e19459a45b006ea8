#!/usr/bin/env python3
"""Streams a realistic data set as CSV for PostgreSQL COPY.

Usage: generate.py TABLE EVENTS   (TABLE: companies, partnerships, parties, events,
event_companies, event_partnerships). Deterministic: the same EVENTS gives the same
data, so runs compare. Tags follow a Zipf-like skew over 500 tags, 1 to 6 an event.
"""
import csv
import itertools
import random
import sys
import uuid
from datetime import date, timedelta

TAGS = 500
COMPANIES = 10_000
PARTNERSHIPS = 50_000
BASE_MS = 1_704_067_200_000  # 2024-01-01, for time-ordered (v7) ids
WORDS = ("anthropic openai amazon google microsoft nvidia chips cloud model training "
         "inference funding round regulator antitrust review partnership acquisition "
         "datacenter gpu safety policy europe launch research benchmark").split()
CATEGORIES = ["industry", "funding", "policy", "research", "product", "legal", "other"]
KINDS = ["ai_lab", "cloud_provider", "chipmaker", "investor", "regulator", "enterprise", "other"]
DEAL_KINDS = ["investment", "cloud", "chips", "distribution", "acquisition", "licensing", "research", "other"]
STATUSES = ["announced", "active", "completed", "under_review", "ended"]
ROLES = ["investor", "investee", "partner", "subject", "customer", "supplier"]


def v7(rng, n, spread_ms=1):
    """A UUID v7 whose time part grows with n, so ids are time-ordered like real ones."""
    ms = BASE_MS + n * spread_ms
    rand = rng.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def zipf_tags(rng, cumulative):
    count = rng.randint(1, 6)
    picked = set()
    while len(picked) < count:
        picked.add(rng.choices(range(TAGS), cum_weights=cumulative)[0])
    return "{" + ",".join(f"tag-{t}" for t in sorted(picked)) + "}"


def main():
    table, events = sys.argv[1], int(sys.argv[2])
    rng = random.Random(42)
    out = csv.writer(sys.stdout, lineterminator="\n")
    weights = [1.0 / (rank + 1) for rank in range(TAGS)]
    cumulative = list(itertools.accumulate(weights))
    if table == "companies":
        for i in range(COMPANIES):
            out.writerow([v7(rng, i), f"company-{i}", f"Company {i} {rng.choice(WORDS).title()}",
                          rng.choice(KINDS), rng.choice(["US", "GB", "FR", "DE", "JP", ""]) or None,
                          f"https://company-{i}.example.com", f"Company {i} of the benchmark.", "{}"])
    elif table == "partnerships":
        for i in range(PARTNERSHIPS):
            announced = date(2015, 1, 1) + timedelta(days=rng.randrange(3650))
            out.writerow([v7(rng, i), f"deal-{i}", f"Deal {i}", rng.choice(DEAL_KINDS), rng.choice(STATUSES),
                          announced.isoformat(), rng.randrange(1, 10_000) * 1_000_000, "USD", "{}", "f",
                          "{" + f"tag-{rng.randrange(50)}" + "}"])
    elif table == "parties":
        for i in range(PARTNERSHIPS):
            a, b = rng.sample(range(COMPANIES), 2)
            deal = f"deal-{i}"
            out.writerow([deal, f"company-{a}", "investor", 0])
            out.writerow([deal, f"company-{b}", "investee", 1])
    elif table == "events":
        for i in range(events):
            words = rng.sample(WORDS, 6)
            occurred = date(2015, 1, 1) + timedelta(days=rng.randrange(3650))
            out.writerow([v7(rng, i), f"ev-{i}", f"Event {i}: {' '.join(words[:4])}", occurred.isoformat(),
                          rng.choice(CATEGORIES), rng.randrange(4), f"Summary {' '.join(words)}",
                          f"What happened: {' '.join(rng.sample(WORDS, 12))}", f"Why {i} matters",
                          zipf_tags(rng, cumulative), "[]"])
    elif table == "event_companies":
        for i in range(events):
            for position, company in enumerate(rng.sample(range(COMPANIES), rng.randint(1, 3))):
                out.writerow([f"ev-{i}", f"company-{company}", rng.choice(ROLES), position])
    elif table == "event_partnerships":
        for i in range(0, events, 10):
            out.writerow([f"ev-{i}", f"deal-{rng.randrange(PARTNERSHIPS)}", 0])
    else:
        sys.exit(f"unknown table {table}")


if __name__ == "__main__":
    main()

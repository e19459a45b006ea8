#!/usr/bin/env python3
"""How close best match first with a candidate cap comes to exact ranking.

Usage: python3 bench/rank_quality.py [DB] [CANDIDATES] [QUERIES]
For QUERIES pairs of industry words (seeded), ranks the matches of each exactly (every
match scored) and as the service does with the cap (the newest CANDIDATES matches
scored), and prints, per query, how many events match, how many of the capped top 20
are in the exact top 20, and the capped top 20's mean score as a share of the exact top
20's, then the means. Runs psql against 127.0.0.1 as postgres.
"""
import random
import subprocess
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import generate  # noqa: E402

db = sys.argv[1] if len(sys.argv) > 1 else "ie_bench"
cap = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
count = int(sys.argv[3]) if len(sys.argv) > 3 else 20


def psql(sql):
    out = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line]


rng = random.Random(3)
overlaps = []
scores = []
for _ in range(count):
    q = " ".join(rng.sample(generate.INDUSTRY_WORDS, 2))
    tsq = f"websearch_to_tsquery('english', '{q}')"
    matches = int(psql(f"select count(*) from events where deleted_at is null and search @@ {tsq}")[0])
    exact = [r.split("|") for r in psql(
        f"select id, ts_rank(search, {tsq}) from events e where deleted_at is null and search @@ {tsq} "
        f"order by 2 desc, id desc limit 20")]
    capped = [r.split("|") for r in psql(
        f"select c.id, ts_rank(c.search, {tsq}) from (select e.id, e.search from events e "
        f"where deleted_at is null and search @@ {tsq} order by occurred_on desc, id desc limit {cap}) c "
        f"order by 2 desc, c.id desc limit 20")]
    overlap = len({i for i, _ in exact} & {i for i, _ in capped})
    overlaps.append(overlap / max(1, min(20, len(exact))))
    mean = lambda rows: sum(float(r) for _, r in rows) / max(1, len(rows))  # noqa: E731
    score = mean(capped) / mean(exact) if exact else 1.0
    scores.append(score)
    print(f"{q!r}: {matches} matches, {overlap} of the top {len(exact)} shared, "
          f"capped top 20 scores {score:.2f} of the exact top 20's")
print(f"mean share of the exact top 20 in the capped top 20: {sum(overlaps) / len(overlaps):.2f}")
print(f"mean score of the capped top 20 against the exact top 20: {sum(scores) / len(scores):.2f}")

"""CPU time by process while a benchmark runs: every 0.2 s it reads each process's
user and system time from /proc; on SIGTERM it prints what each spent since it started
(the busiest first, with the command line that names a PostgreSQL backend's database
and client), and the total in cores. A process that ends between two samples loses
at most 0.2 s of its time."""
import os, signal, sys, time, collections
hz = os.sysconf('SC_CLK_TCK')
first, last, names = {}, {}, {}
def snap():
    for p in os.listdir('/proc'):
        if not p.isdigit(): continue
        try:
            with open(f'/proc/{p}/stat') as f: s = f.read()
            fields = s[s.rindex(')')+2:].split()
            t = (int(fields[11]) + int(fields[12])) / hz
            if p not in names:
                with open(f'/proc/{p}/cmdline','rb') as f: names[p] = f.read().replace(b'\0',b' ').decode(errors='replace')[:90]
            first.setdefault(p, 0.0 if started else t)
            last[p] = t
        except Exception: pass
started = False
snap(); started = True
stop = False
def h(*a):
    global stop; stop = True
signal.signal(signal.SIGTERM, h)
t0 = time.time()
while not stop:
    time.sleep(0.2); snap()
el = time.time() - t0
rows = sorted(((last[p]-first[p], p, names.get(p,'')) for p in last), reverse=True)
tot = sum(r[0] for r in rows)
print(f"elapsed {el:.1f}s, total cpu {tot:.1f}s ({tot/el:.2f} cores)")
for c,p,n in rows[:15]:
    if c > 0.05: print(f"{c:7.2f}s {p:>7} {n}")

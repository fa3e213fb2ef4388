#!/usr/bin/env python3
"""Replaces (or appends) the "## Engine" section of docs/benchmarks.md with
the figures of bench/engine_bench.sh. Other sections are left untouched.

engine_docs.py DOC TABLE_MD TARGETS_MD DATE MACHINE DURATION CONNS NGINX WRK
               LOADAVG_BEFORE LOADAVG_AFTER ROUNDS ROUNDS_LINE
"""
import os
import re
import sys

(doc, table, targets, date, machine, duration, conns, nginx, wrk, load0,
 load1, rounds, rounds_line) = sys.argv[1:14]
with open(table) as f:
    table = f.read().strip()
with open(targets) as f:
    targets = f.read().strip()

section = f"""## Engine

Measured {date} on {machine} with `bench/engine_bench.sh --write-docs`
({nginx}, wrk {wrk}).

doppel runs `doppel serve --workers 1` pinned to core 0
(`taskset -c 0`), with the mocks loaded through `POST /api/v1/mocks/batch`
on a fresh data directory; nginx runs `worker_processes 1` pinned to core 0
and answers `return 200 '{{"ok":true}}'` (the same body as every benchmark
mock); wrk runs pinned to core 1:

```sh
taskset -c 1 wrk -t1 -c{conns} -d{duration}s --latency -s bench/engine_paths.lua http://127.0.0.1:PORT -- N    # (a) N=1, (b) N=1000, (c) N=10000
taskset -c 1 wrk -t1 -c{conns} -d{duration}s --latency -s bench/engine_post.lua  http://127.0.0.1:PORT -- 100  # (d)
```

`engine_paths.lua` requests `/m/<random 0..N-1>`; `engine_post.lua` posts
`{{"kind":"k<random 0..99>","amount":12.5}}` to `/orders`, where each of the
100 mocks has the condition `kind equals k<i>`. The nginx baseline runs the
same scripts (GET with N=10000, POST with 100). RSS is `VmRSS` of the doppel
process after loading (read once the server answered a request that followed
the load); load time is the `curl` time of the batch request; start-up is
from spawning the process to the first `200` of `/health/ready` (with an
empty store).

Each case ran {rounds} rounds, alternating with every other case and with
nginx, each on a fresh server; the table shows each case's median round by
req/s. Every round's req/s: {rounds_line}

{table}

Targets:

{targets}

Load average of the machine (1, 5, 15 min) before the run: {load0}; after:
{load1}. With only two cores, anything else running (builds, fuzzers)
takes time from doppel, nginx or wrk and skews the comparison; figures from a
shared virtual machine vary from run to run. Rerun the script on a quiet
machine to compare.
"""

text = ""
if os.path.exists(doc):
    with open(doc) as f:
        text = f.read()
if not text.strip():
    text = "# Benchmarks\n"
pat = re.compile(r"^## Engine\n.*?(?=^## |\Z)", re.S | re.M)
if pat.search(text):
    text = pat.sub(lambda m: section + "\n", text, count=1)
else:
    text = text.rstrip("\n") + "\n\n" + section
with open(doc, "w") as f:
    f.write(text.rstrip("\n") + "\n")

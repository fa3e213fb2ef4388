#!/usr/bin/env python3
"""Measures /health/live latency: one keep-alive connection, one request at
a time, a pause of INTERVAL_MS between them, until STOP_FILE exists (or
MAX_S seconds passed); then prints "count p50_ms p99_ms max_ms" (the
bench/admin_write_latency.sh probe; stdlib only).

health_probe.py PORT STOP_FILE [INTERVAL_MS=2] [MAX_S=600]
"""
import http.client
import os
import sys
import time


def pct(sorted_ms, p):
    if not sorted_ms:
        return 0.0
    i = min(len(sorted_ms) - 1, max(0, int(round(p / 100.0 * len(sorted_ms))) - 1))
    return sorted_ms[i]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    port, stop = int(sys.argv[1]), sys.argv[2]
    interval = float(sys.argv[3]) / 1000.0 if len(sys.argv) > 3 else 0.002
    max_s = float(sys.argv[4]) if len(sys.argv) > 4 else 600.0
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    lat = []
    t_end = time.monotonic() + max_s
    while not os.path.exists(stop) and time.monotonic() < t_end:
        t0 = time.perf_counter()
        c.request("GET", "/health/live")
        r = c.getresponse()
        r.read()
        lat.append((time.perf_counter() - t0) * 1000.0)
        if r.status != 200:
            sys.exit("health answered %d" % r.status)
        time.sleep(interval)
    c.close()
    lat.sort()
    print("%d %.3f %.3f %.3f" % (len(lat), pct(lat, 50), pct(lat, 99),
                                 lat[-1] if lat else 0.0))


if __name__ == "__main__":
    main()

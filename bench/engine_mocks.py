#!/usr/bin/env python3
"""Writes a batch of benchmark mocks as JSON for POST /api/v1/mocks/batch.

  engine_mocks.py paths N   N GET mocks on /m/0 .. /m/N-1
  engine_mocks.py post N    N POST mocks on /orders told apart by body "kind"
Every mock answers the same static body as the nginx baseline.
"""
import json
import sys

kind, n = sys.argv[1], int(sys.argv[2])
resp = {"statusCode": 200, "payload": {"ok": True}}
if kind == "paths":
    mocks = [{"http": {"route": "/m/%d" % i, "httpMethod": "GET"},
              "response": resp} for i in range(n)]
elif kind == "post":
    mocks = [{"http": {"route": "/orders", "httpMethod": "POST",
                       "conditions": [{"path": "kind", "value": "k%d" % i}]},
              "response": resp} for i in range(n)]
else:
    sys.exit("usage: engine_mocks.py paths|post N")
json.dump({"namespace": "sandbox", "mocks": mocks}, sys.stdout,
          separators=(",", ":"))

#!/usr/bin/env python3
"""Writes a batch of benchmark mocks for POST /api/v1/mocks/batch.

  soap_mocks.py ops N    N soap mocks on /ws/bench, operations Op00000 .. Op<N-1>
  soap_mocks.py xpath N  N soap mocks of operation Get on /ws/bench, told
                         apart by an XPath condition on <b:id>
  soap_mocks.py http N   N http POST mocks on /orders told apart by "kind"
Every mock answers the same small body. Numbers have five digits, so that
one mock and 10,000 are asked the same number of bytes.
"""
import json
import sys

kind, n = sys.argv[1], int(sys.argv[2])
xml = {"statusCode": 200, "payload": "<b:R xmlns:b=\"urn:bench\">ok</b:R>"}
if kind == "ops":
    mocks = [{"soap": {"method": "Op%05d" % i, "path": "/ws/bench"},
              "response": xml} for i in range(n)]
elif kind == "xpath":
    mocks = [{"soap": {"method": "Get", "path": "/ws/bench",
                       "namespaces": {"b": "urn:bench"},
                       "conditions": [{"xpath": "//b:id", "value": "%05d" % i}]},
              "response": xml} for i in range(n)]
elif kind == "http":
    mocks = [{"http": {"route": "/orders", "httpMethod": "POST",
                       "conditions": [{"path": "kind", "value": "k%d" % i}]},
              "response": {"statusCode": 200, "payload": {"ok": True}}}
             for i in range(n)]
else:
    sys.exit("usage: soap_mocks.py ops|xpath|http N")
json.dump({"namespace": "sandbox", "mocks": mocks}, sys.stdout,
          separators=(",", ":"))

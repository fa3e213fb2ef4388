#!/usr/bin/env python3
"""Writes a batch of SOAP benchmark mocks for POST /api/v1/mocks/batch.

  mocks.py soap N   N GetAccount mocks on /ws/account, told apart by the
                    request's accountId (acct-0 .. acct-N-1), a JSON-path
                    condition on the Body
  mocks.py http N   N POST mocks on /orders told apart by the body's "kind"
                    (the plain HTTP figure of the same run)
Every SOAP mock answers the same small GetAccountResponse.
"""
import json
import sys

kind, n = sys.argv[1], int(sys.argv[2])
if kind == "soap":
    answer = ('<acc:GetAccountResponse xmlns:acc="urn:bench:account">'
              '<acc:balance>12.50</acc:balance></acc:GetAccountResponse>')
    mocks = [{"soap": {"service": "AccountService", "method": "GetAccount",
                       "path": "/ws/account",
                       "conditions": [{"path": "$.GetAccount.accountId",
                                       "assertAction": "equals",
                                       "value": "acct-%d" % i}]},
              "response": {"payload": answer}} for i in range(n)]
elif kind == "http":
    mocks = [{"http": {"route": "/orders", "httpMethod": "POST",
                       "conditions": [{"path": "kind", "value": "k%d" % i}]},
              "response": {"statusCode": 200, "payload": {"ok": True}}}
             for i in range(n)]
else:
    sys.exit("usage: mocks.py soap|http N")
json.dump({"namespace": "sandbox", "mocks": mocks}, sys.stdout,
          separators=(",", ":"))

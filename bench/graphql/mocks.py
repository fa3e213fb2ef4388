#!/usr/bin/env python3
"""Writes the benchmark's GraphQL mocks for POST /api/v1/mocks/batch.

  mocks.py N   N mocks of the field user, told apart by a condition on its
               argument id (u-00000 .. u-<N-1>, five digits), each answering
               that user

The shape a user has when one query field serves many test fixtures: the
same field, different arguments. (A schema with 10,000 root fields would
be the other way to get 10,000 mocks; nobody writes one.) Ids have one
width, so that one mock and 10,000 are asked and answer the same number
of bytes: the benchmark compares the number of mocks, not string lengths.
"""
import json
import sys

n = int(sys.argv[1])
mocks = [{"graphql": {"field": "user",
                      "conditions": [{"path": "id", "value": "u-%05d" % i}]},
          "response": {"payload": {"data": {"user": {
              "id": "u-%05d" % i, "name": "User %05d" % i,
              "email": "user%05d@example.com" % i, "role": "VIEWER",
              "age": 30, "friends": []}}}}}
         for i in range(n)]
json.dump({"namespace": "sandbox", "mocks": mocks}, sys.stdout,
          separators=(",", ":"))

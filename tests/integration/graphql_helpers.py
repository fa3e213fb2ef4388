"""Shared pieces of the GraphQL integration tests: a doppel server with the
graphql plugin's options set, mock and schema helpers, and a GraphQL client
over plain http.client (so every header and status is visible)."""

import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

GQL_MEDIA = "application/graphql-response+json"

# The schema most tests use (uploaded as graphql.graphql: it serves
# /graphql): the example schema of docs/graphql.md, so the docs and the tests
# describe one shop.
SHOP_SDL_PATH = os.path.join(
    os.environ.get("DOPPEL_SOURCE_DIR",
                   os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..")),
    "docs", "examples", "shop.graphql")
with open(SHOP_SDL_PATH, encoding="utf-8") as _f:
    SHOP_SDL = _f.read()


def config(**options):
    """The built-in plugins.conf with these [graphql] options set."""
    text = harness.default_config()
    lines = "".join("%s = %s\n" % (k, v) for k, v in options.items())
    return text.replace("\n[graphql]\n", "\n[graphql]\n" + lines, 1)


class GqlDoppel(harness.Doppel):
    def __init__(self, options=None, **kw):
        super().__init__(config=config(**(options or {})), **kw)

    # -- admin --------------------------------------------------------------
    def mock(self, field=None, response=None, expect=(200, 201), ns="sandbox",
             top=None, **graphql):
        """POST /api/v1/mocks with a graphql section; returns the Response."""
        sec = dict(graphql)
        if field is not None:
            sec["field"] = field
        body = {"namespace": ns, "graphql": sec}
        if response is not None:
            body["response"] = response
        if top:
            body.update(top)
        if "response" not in body and "oneOf" not in body:
            body["response"] = {}
        r = self.post("/api/v1/mocks", body)
        if expect and r.status not in expect:
            raise AssertionError("mock refused: %r\n%s" % (r, json.dumps(body)))
        return r

    def schema(self, name, sdl, ns="sandbox", expect=(200, 201)):
        r = self.request("PUT", "/api/v1/schemas/graphql/%s?namespace=%s"
                         % (name, ns), body=sdl.encode(),
                         headers={"Content-Type": "text/plain"})
        if expect and r.status not in expect:
            raise AssertionError("schema refused: %r" % (r,))
        return r

    def reset(self, ns="sandbox"):
        r = self.post("/api/v1/reset?namespace=%s" % ns, {})
        if r.status not in (200, 204):
            raise AssertionError("reset: %r" % (r,))

    def entries(self, what, ns="sandbox"):
        r = self.get("/api/v1/%s?namespace=%s&limit=1000" % (what, ns))
        if r.status != 200:
            raise AssertionError("%s: %r" % (what, r))
        return r.json()["items"]

    # -- GraphQL ------------------------------------------------------------
    def gql(self, query, variables=None, operation=None, path="/graphql",
            accept=None, headers=None, extensions=None):
        """POST application/json; returns the Response."""
        body = {"query": query}
        if variables is not None:
            body["variables"] = variables
        if operation is not None:
            body["operationName"] = operation
        if extensions is not None:
            body["extensions"] = extensions
        return self.gql_raw(json.dumps(body).encode(), path=path,
                            accept=accept, headers=headers)

    def gql_raw(self, body, path="/graphql", accept=None, headers=None,
                content_type="application/json", method="POST"):
        h = {"Content-Type": content_type}
        if accept is not None:
            h["Accept"] = accept
        h.update(headers or {})
        return self.request(method, path, body=body, headers=h)

    def gql_get(self, path="/graphql", accept=None, headers=None, **params):
        q = urllib.parse.urlencode(params)
        h = {}
        if accept is not None:
            h["Accept"] = accept
        h.update(headers or {})
        return self.request("GET", path + ("?" + q if q else ""), headers=h)

    def answer(self, query, variables=None, **kw):
        """The answer's JSON, asserting 200."""
        r = self.gql(query, variables, **kw)
        if r.status != 200:
            raise AssertionError("status %d: %r" % (r.status, r))
        return r.json()

"""What the SDK-compatibility tests (test_sdk_compat*.py) share: the
request bodies the platforms' SDKs send (fixtures/sdk/), and the tenants a
suite sets up to check roles."""

import json
import os

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "fixtures", "sdk")


def fixture(name, **kw):
    """A fixture body, with kw set on top (for a top-level object)."""
    with open(os.path.join(FIXTURES, name)) as f:
        body = json.load(f)
    if kw:
        body.update(kw)
    return body


def make_tenants(api, namespaces, users):
    """Creates the namespaces, then each user with its memberships and a
    token, through api(method, path, body) -> (status, json) as a system
    admin. users: [("prefix-role", [(namespace, role), ...]), ...].
    Returns {"role": token secret}, keyed by the part after the first '-'."""
    tok = {}
    for ns in namespaces:
        st, js = api("POST", "/namespaces", {"name": ns})
        assert st == 201, js
    for name, grants in users:
        st, js = api("POST", "/users", {"name": name})
        assert st == 201, js
        for ns, role in grants:
            st, js = api("PUT", "/namespaces/%s/members/%s" % (ns, name),
                         {"role": role})
            assert st == 201, js
        st, js = api("POST", "/users/%s/tokens" % name, {"name": "t"})
        assert st == 201, js
        tok[name.split("-")[1]] = js["secret"]
    return tok

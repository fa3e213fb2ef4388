"""GraphQL validation, differential: for every query of the corpus
(fixtures/graphql/queries.txt) against one schema (fixtures/graphql/
schema.graphql), doppel's validation errors agree with graphql-js 16's
validate() (tests/node/graphql_validate.mjs).

doppel's side is gql_validate_tool (tests/tools/), dp_gql's gql_parse +
gql_schema_build + gql_validate with nothing in between. Per query:
- both parse, or both reject the syntax;
- valid / invalid agree exactly;
- the multiset of messages agrees;
- the multiset of (message, locations) agrees.
Each disagreement is reported with its query. KNOWN lists the documented
differences (kept small, each with its reason); a known difference that
no longer occurs fails too, so the list cannot go stale.

The corpus itself is checked: at least 150 queries, at least two thirds
invalid, ids "ok-*" valid by graphql-js, and every rule of graphql-js's
specifiedRules produces at least one of its errors.
"""

import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

NODE = shutil.which("node")
NODE_DIR = os.path.join(harness.SOURCE_DIR, "tests", "node")
SCRIPT = os.path.join(NODE_DIR, "graphql_validate.mjs")
FIXTURES = os.path.join(harness.SOURCE_DIR, "tests", "integration",
                        "fixtures", "graphql")
SCHEMA = os.path.join(FIXTURES, "schema.graphql")
CORPUS = os.path.join(FIXTURES, "queries.txt")
TOOL = os.path.join(harness.BUILD_DIR, "tests", "tools", "gql_validate_tool")

# Documented differences: corpus id -> (what differs, why).
KNOWN = {}

# One message pattern per rule of specifiedRules (graphql-js 16.15): the
# corpus must make graphql-js produce each at least once.
RULES = {
    "ExecutableDefinitions": r"definition is not executable\.$",
    "UniqueOperationNames": r"^There can be only one operation named",
    "LoneAnonymousOperation": r"^This anonymous operation must be the only",
    "SingleFieldSubscriptions": r"Subscription .*must (select only one|not "
                                r"select an introspection)",
    "KnownTypeNames": r"^Unknown type ",
    "FragmentsOnCompositeTypes": r"cannot condition on non composite type",
    "VariablesAreInputTypes": r"cannot be non-input type",
    "ScalarLeafs": r"(must not have a selection since|must have a selection "
                   r"of subfields)",
    "FieldsOnCorrectType": r"^Cannot query field ",
    "UniqueFragmentNames": r"^There can be only one fragment named",
    "KnownFragmentNames": r"^Unknown fragment ",
    "NoUnusedFragments": r"is never used\.$",
    "PossibleFragmentSpreads": r"cannot be spread here as objects of type",
    "NoFragmentCycles": r"^Cannot spread fragment .* within itself",
    "UniqueVariableNames": r"^There can be only one variable named",
    "NoUndefinedVariables": r"is not defined( by operation .*)?\.$",
    "NoUnusedVariables": r"is never used( in operation .*)?\.$",
    "KnownDirectives": r"^(Unknown directive |Directive .* may not be used on)",
    "UniqueDirectivesPerLocation": r"can only be used once at this location",
    "KnownArgumentNames": r"^Unknown argument ",
    "UniqueArgumentNames": r"^There can be only one argument named",
    "ValuesOfCorrectType": r"(cannot represent|^Expected value of type|is not "
                           r"defined by type|was not provided\.$|does not "
                           r"exist in)",
    "ProvidedRequiredArguments": r"is required, but it was not provided\.$",
    "VariablesInAllowedPosition": r"used in position expecting type",
    "OverlappingFieldsCanBeMerged": r"^Fields .* conflict because",
    "UniqueInputFieldNames": r"^There can be only one input field named",
    "MaxIntrospectionDepth": r"^Maximum introspection depth exceeded$",
}


def split_corpus(text):
    """The same split as graphql_validate.mjs's splitCorpus."""
    out, cur = [], None
    for line in text.split("\n"):
        m = re.match(r"^### ([^:\s]+)", line)
        if m:
            cur = [m.group(1), []]
            out.append(cur)
        elif cur is not None:
            cur[1].append(line)
    return [(i, "\n".join(lines)) for i, lines in out]


def locs_key(e):
    return tuple((l["line"], l["column"]) for l in e.get("locations", []))


def describe(query, ours, theirs):
    return "\n  query:\n%s\n  doppel:     %s\n  graphql-js: %s" % (
        "\n".join("    | " + l for l in query.strip("\n").split("\n")),
        json.dumps(ours, indent=None), json.dumps(theirs, indent=None))


def compare(ours, theirs):
    """The first way the two results differ, or None."""
    if ("syntaxError" in ours) != ("syntaxError" in theirs):
        return "syntax"
    if "syntaxError" in ours:
        return None
    if "errors" not in theirs:
        return "graphql-js threw"
    a, b = ours["errors"], theirs["errors"]
    if bool(a) != bool(b):
        return "validity"
    if collections.Counter(e["message"] for e in a) != collections.Counter(
            e["message"] for e in b):
        return "messages"
    if collections.Counter((e["message"], locs_key(e)) for e in a) != \
            collections.Counter((e["message"], locs_key(e)) for e in b):
        return "locations"
    return None


class GraphQLValidationDiff(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if NODE is None or not os.path.isdir(
                os.path.join(NODE_DIR, "node_modules", "graphql")):
            raise unittest.SkipTest(
                "node or tests/node/node_modules/graphql missing "
                "(scripts/dev.sh deps)")
        if not os.access(TOOL, os.X_OK):
            raise unittest.SkipTest("%s not built" % TOOL)
        with open(CORPUS, encoding="utf-8") as f:
            cls.corpus = split_corpus(f.read())
        out = subprocess.run([NODE, SCRIPT, SCHEMA, CORPUS], cwd=NODE_DIR,
                             capture_output=True, timeout=120, check=True)
        cls.js = json.loads(out.stdout)
        cls.ours = {}
        tmp = tempfile.mkdtemp(prefix="gqlv-")
        try:
            for qid, query in cls.corpus:
                path = os.path.join(tmp, qid + ".graphql")
                with open(path, "w", encoding="utf-8") as f:
                    f.write(query)
                r = subprocess.run([TOOL, SCHEMA, path], capture_output=True,
                                   timeout=60)
                if r.returncode != 0 or r.stderr:
                    raise AssertionError("gql_validate_tool failed on %s: "
                                         "rc %d, stderr %r" %
                                         (qid, r.returncode, r.stderr[-2000:]))
                cls.ours[qid] = json.loads(r.stdout)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_corpus_shape(self):
        ids = [i for i, _ in self.corpus]
        self.assertEqual(len(ids), len(set(ids)), "duplicate ids")
        self.assertGreaterEqual(len(ids), 150)
        invalid = [i for i in ids if self.js[i].get("errors")]
        self.assertGreaterEqual(3 * len(invalid), 2 * len(ids))
        for qid in ids:
            res = self.js[qid]
            self.assertIn("errors", res, "%s: graphql-js: %r" % (qid, res))
            if qid.startswith("ok-"):
                self.assertEqual(res["errors"], [], qid)
            else:
                self.assertNotEqual(res["errors"], [], qid)

    def test_corpus_covers_every_rule(self):
        messages = [e["message"] for r in self.js.values()
                    for e in r.get("errors", [])]
        for rule, pattern in RULES.items():
            self.assertTrue(any(re.search(pattern, m) for m in messages),
                            "no corpus query triggers " + rule)

    def test_doppel_agrees_with_graphql_js(self):
        problems = []
        for qid, query in self.corpus:
            ours, theirs = self.ours[qid], self.js[qid]
            diff = compare(ours, theirs)
            known = KNOWN.get(qid)
            if diff and known and known[0] == diff:
                continue
            if diff:
                problems.append("%s: %s differ%s" % (
                    qid, diff, describe(query, ours, theirs)))
            elif known:
                problems.append("%s: listed in KNOWN (%s) but agrees now" %
                                (qid, known[0]))
        self.assertFalse(problems, "\n\n".join(problems) + "\n\n%d of %d "
                         "queries disagree" % (len(problems), len(self.corpus)))


if __name__ == "__main__":
    unittest.main()

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

The same corpus then goes through the real server: the schema uploaded
with PUT /api/v1/schemas/graphql/graphql.graphql, each query POSTed to
/graphql (Accept: application/graphql-response+json); a query graphql-js
rejects gets 400 with exactly its errors, a valid one 200 and no
validation errors.

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

try:
    import graphql_helpers  # noqa: E402  (the GraphQL plugin's helpers)
except ImportError:  # the plugin's tests are not in this tree
    graphql_helpers = None

NODE = shutil.which("node")
NODE_DIR = os.path.join(harness.SOURCE_DIR, "tests", "node")
SCRIPT = os.path.join(NODE_DIR, "graphql_validate.mjs")
FIXTURES = os.path.join(harness.SOURCE_DIR, "tests", "integration",
                        "fixtures", "graphql")
SCHEMA = os.path.join(FIXTURES, "schema.graphql")
CORPUS = os.path.join(FIXTURES, "queries.txt")
TOOL = os.path.join(harness.BUILD_DIR, "tests", "tools", "gql_validate_tool")

# Documented differences: corpus id -> (what differs, why).
KNOWN = {
    # gql.h's AST records where an operation, a fragment definition, a
    # spread and an inline fragment start, not where the name or the type
    # condition after their keyword is; gql_validate reports those names
    # one space after the keyword ("query Name", "...Name", "... on Type"),
    # which is where graphql-js puts them in the usual layout. Messages
    # and validity agree; only these columns differ.
    "loc-spacing-names": ("locations", "name positions after a keyword are "
                          "assumed one space away"),
}

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


def generated():
    """Big and hostile documents, built here rather than written out:
    graphql-js's error limit and work budgets must cut them where doppel
    cuts them, and what stays under the budgets must be answered the
    same."""
    out = []
    out.append(("gen-error-limit", "{ me {" + "".join(
        " f%d" % i for i in range(150)) + " } }"))
    # pairs of one simple leaf: 600 fit the overlap budget, 800 do not
    for n in (600, 800):
        out.append(("gen-same-leaf-%d" % n,
                    "{ me {" + " name" * n + " } }"))
    # the same key with sub-selections, 40 x 40: the budget ends it
    out.append(("gen-overlap-budget", "{ me {" + " friends {" + (
        " friends { id }" * 40) + " }" * 1 + (" friends {" + (
            " friends { id }" * 40) + " }") * 39 + " } }"))
    # fragments spreading two fragments each: cached pairs keep it cheap
    q = ["{ me { ...F0 } }"]
    for i in range(60):
        q.append("fragment F%d on User { name %s}" % (
            i, "...F%d ...F%d " % (i + 1, i + 2) if i + 2 < 60 else ""))
    out.append(("gen-fragment-fanout", "\n".join(q)))
    # a chain of 1500 fragments, one conflict at its end
    q = ["{ me { x: name ...C0 } }"]
    for i in range(1500):
        q.append("fragment C%d on User { ...C%d }" % (i, i + 1))
    q.append("fragment C1500 on User { x: email }")
    out.append(("gen-long-chain", "\n".join(q)))
    # 200 operations sharing 300 fragments: the fragment work is shared
    q = []
    for i in range(200):
        q.append("query Op%d($n: Int) { me { ...S0 } }" % i)
    for i in range(300):
        q.append("fragment S%d on User { %s }" % (
            i, "...S%d" % (i + 1) if i < 299 else "friends(first: $n) { id }"))
    out.append(("gen-shared-fragments", "\n".join(q)))
    # thousands of arguments, input fields, variables and directives, most
    # of them repeated: the uniqueness rules group them
    out.append(("gen-wide-arguments", "{ me { avatar(" + ", ".join(
        "size: %d" % i if i % 3 else "a%d: 1" % (i % 50)
        for i in range(3000)) + ") } }"))
    out.append(("gen-wide-input", "{ products(filter: {" + ", ".join(
        "minPrice: 1" if i % 2 else "f%d: 2" % (i % 40)
        for i in range(3000)) + "}) { id } }"))
    out.append(("gen-wide-variables", "query W(" + ", ".join(
        "$v%d: Int" % (i % 700) for i in range(2000)) + ") { matrix(rows: [[" +
        ", ".join("$v%d" % i for i in range(0, 1400, 3)) + "]]) }"))
    out.append(("gen-wide-directives", "{ ping" + " @skip(if: false)" * 1500 +
                " @log(level: \"x\")" * 1500 + " }"))
    # nesting 60 selection sets deep with an error at the bottom
    out.append(("gen-deep", "{ me {" + " friends {" * 60 + " nmae" +
                " }" * 60 + " } }"))
    return out


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
            text = f.read()
        cls.corpus = split_corpus(text)
        cls.generated = generated()
        tmp = tempfile.mkdtemp(prefix="gqlv-")
        try:
            # graphql-js reads the written corpus and the generated queries
            both = os.path.join(tmp, "corpus.txt")
            with open(both, "w", encoding="utf-8") as f:
                f.write(text)
                for qid, query in cls.generated:
                    f.write("\n### %s\n%s\n" % (qid, query))
            out = subprocess.run([NODE, SCRIPT, SCHEMA, both], cwd=NODE_DIR,
                                 capture_output=True, timeout=300, check=True)
            cls.js = json.loads(out.stdout)
            cls.ours = {}
            for qid, query in cls.corpus + cls.generated:
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

    def test_generated_cases_are_what_they_say(self):
        """The generated documents exercise what they are meant to (so a
        change of graphql-js or of the schema cannot turn them trivial)."""
        last = {qid: (r.get("errors") or [{}])[-1].get("message")
                for qid, r in self.js.items() if qid.startswith("gen-")}
        self.assertEqual(len(self.js["gen-error-limit"]["errors"]), 101)
        self.assertTrue(last["gen-error-limit"].startswith("Too many"))
        self.assertEqual(self.js["gen-same-leaf-600"]["errors"], [])
        self.assertEqual(last["gen-same-leaf-800"], "Validation aborted.")
        self.assertEqual(last["gen-overlap-budget"], "Validation aborted.")
        self.assertEqual(self.js["gen-fragment-fanout"]["errors"], [])
        self.assertIn("conflict", last["gen-long-chain"])
        self.assertEqual(self.js["gen-shared-fragments"]["errors"], [])
        self.assertIn("nmae", last["gen-deep"])
        for qid, rule in (("gen-wide-arguments", "one argument named"),
                          ("gen-wide-input", "one input field named"),
                          ("gen-wide-variables", "one variable named"),
                          ("gen-wide-directives", "only be used once")):
            errors = self.js[qid]["errors"]
            self.assertEqual(len(errors), 101, qid)
            self.assertTrue(any(rule in e["message"] for e in errors), qid)

    def test_doppel_agrees_with_graphql_js(self):
        problems = []
        for qid, query in self.corpus + self.generated:
            ours, theirs = self.ours[qid], self.js[qid]
            diff = compare(ours, theirs)
            known = KNOWN.get(qid)
            if diff and known and known[0] == diff:
                continue
            if diff:
                problems.append("%s: %s differ%s" % (
                    qid, diff, describe(query[:3000], ours, theirs)))
            elif known:
                problems.append("%s: listed in KNOWN (%s) but agrees now" %
                                (qid, known[0]))
        self.assertFalse(problems, "\n\n".join(problems) + "\n\n%d of %d "
                         "queries disagree" % (
                             len(problems),
                             len(self.corpus) + len(self.generated)))


# Request errors of a valid document, raised after validation.
AFTER_VALIDATION = re.compile(
    r'^(Variable "\$\w+" of required type "[^"]+" was not provided\.'
    r'|Subscriptions are served over graphql-transport-ws \(WebSocket\)\.)$')


def operations(query):
    """Names of the operations a document defines, in order (enough for
    the corpus: the keyword at the start of a line)."""
    return re.findall(r"^(?:query|mutation|subscription)\s+([_A-Za-z]\w*)",
                      query, re.M)


class GraphQLValidationServer(unittest.TestCase):
    """The corpus through doppel's GraphQL plugin."""

    @classmethod
    def setUpClass(cls):
        if NODE is None or not os.path.isdir(
                os.path.join(NODE_DIR, "node_modules", "graphql")):
            raise unittest.SkipTest("node or tests/node/node_modules/graphql "
                                    "missing (scripts/dev.sh deps)")
        plugin = os.path.join(harness.BUILD_DIR, "plugins",
                              "doppel_graphql.so")
        if graphql_helpers is None or not os.path.exists(plugin):
            raise unittest.SkipTest("GraphQL plugin not built")
        with open(CORPUS, encoding="utf-8") as f:
            text = f.read()
        cls.corpus = split_corpus(text) + generated()
        tmp = tempfile.mkdtemp(prefix="gqlv-")
        try:
            both = os.path.join(tmp, "corpus.txt")
            with open(both, "w", encoding="utf-8") as f:
                f.write(text)
                for qid, query in generated():
                    f.write("\n### %s\n%s\n" % (qid, query))
            out = subprocess.run([NODE, SCRIPT, SCHEMA, both], cwd=NODE_DIR,
                                 capture_output=True, timeout=300, check=True)
            cls.js = json.loads(out.stdout)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        cls.d = graphql_helpers.GqlDoppel()
        with open(SCHEMA, encoding="utf-8") as f:
            cls.d.schema("graphql.graphql", f.read())

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.d.assert_clean_log()

    def test_server_agrees_with_graphql_js(self):
        problems = []
        for qid, query in self.corpus:
            theirs = self.js[qid]
            ops = operations(query)
            # a valid document of several operations runs the first one
            op = ops[0] if ops and not theirs.get("errors") else None
            r = self.d.gql(query, operation=op,
                           accept=graphql_helpers.GQL_MEDIA)
            try:
                body = r.json()
            except ValueError:
                problems.append("%s: status %d, not JSON: %r" %
                                (qid, r.status, r.body[:300]))
                continue
            if "syntaxError" in theirs:
                ok = r.status == 400 and body.get("errors", [{}])[0].get(
                    "message", "").startswith("Syntax Error")
            elif theirs["errors"]:
                ours = {"errors": body.get("errors", [])}
                diff = compare(ours, theirs)
                ok = r.status == 400 and "data" not in body and (
                    diff is None or KNOWN.get(qid, ("",))[0] == diff)
            else:
                # valid: answered (fake data), or refused only by what comes
                # after validation: no variables are sent, and subscriptions
                # go over WebSocket
                ok = r.status == 200 or (r.status == 400 and "errors" in body
                                         and all(AFTER_VALIDATION.match(
                                             e.get("message", ""))
                                             for e in body["errors"]))
            if not ok:
                problems.append("%s: server disagrees%s" % (
                    qid, describe(query[:3000], {"status": r.status,
                                                 "body": body}, theirs)))
        self.assertFalse(problems, "\n\n".join(problems) + "\n\n%d of %d "
                         "queries disagree" % (len(problems),
                                               len(self.corpus)))


if __name__ == "__main__":
    unittest.main()

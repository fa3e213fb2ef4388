// The graphql-js side of the validation differential test
// (tests/integration/test_graphql_validation.py): buildSchema(schema),
// then parse + validate (specifiedRules, maxErrors 100) for each query of
// a corpus, printing one JSON object: {"<id>": {"errors": [...]}} or
// {"<id>": {"syntaxError": "..."}}.
//
// Corpus format: a line "### <id>: <what it checks>" starts a query; the
// lines up to the next such line are its text.
//
// usage: node graphql_validate.mjs schema.graphql queries.txt
import { readFileSync } from 'node:fs';
import { buildSchema, parse, validate } from 'graphql';

export function splitCorpus(text) {
  const out = [];
  let cur = null;
  for (const line of text.split('\n')) {
    const m = /^### ([^:\s]+)/.exec(line);
    if (m) {
      cur = { id: m[1], lines: [] };
      out.push(cur);
    } else if (cur) {
      cur.lines.push(line);
    }
  }
  return out.map(({ id, lines }) => ({ id, query: lines.join('\n') }));
}

function errorJSON(e) {
  const o = { message: e.message };
  if (e.locations) o.locations = e.locations.map(({ line, column }) => ({ line, column }));
  return o;
}

const [schemaPath, corpusPath] = process.argv.slice(2);
if (!schemaPath || !corpusPath) {
  console.error('usage: node graphql_validate.mjs schema.graphql queries.txt');
  process.exit(2);
}
const schema = buildSchema(readFileSync(schemaPath, 'utf8'));
const result = {};
for (const { id, query } of splitCorpus(readFileSync(corpusPath, 'utf8'))) {
  if (id in result) {
    console.error(`duplicate corpus id ${id}`);
    process.exit(2);
  }
  let doc;
  try {
    doc = parse(query);
  } catch (e) {
    result[id] = { syntaxError: e.message };
    continue;
  }
  try {
    result[id] = { errors: validate(schema, doc).map(errorJSON) };
  } catch (e) {
    result[id] = { thrown: String(e && e.message) };
  }
}
process.stdout.write(JSON.stringify(result) + '\n');

// Checks an introspection result against graphql-js 16 (stdin: a JSON job,
// stdout: one JSON line).
//   {"mode": "query"} -> {"query": getIntrospectionQuery({...every option})}
//   {"mode": "check", "sdl": "...", "result": {...}} ->
//     {"built": true|false, "error": "...",
//      "printed": printSchema(buildClientSchema(result.data)),
//      "expected": printSchema(buildSchema(sdl)),
//      "printedSorted" / "expectedSorted": the same after lexicographicSortSchema,
//      "introDiff": the first difference between result.data and graphql-js's
//                   own answer to the same query (types and directives
//                   compared by name), or null}
//   {"mode": "run", "sdl": "...", "query": "...", "variables": {...},
//    "answers": {...}} -> graphql-js's own result of the query, with the
//     answers as the root value (its default resolvers read members by
//     field name and resolve abstract types by __typename, as doppel does;
//     executed without validation)
import {
  buildClientSchema,
  buildSchema,
  execute,
  getIntrospectionQuery,
  graphqlSync,
  lexicographicSortSchema,
  parse,
  printSchema,
} from 'graphql';

const OPTIONS = {
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
};

function byName(list) {
  return [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function normalise(data) {
  const s = data.__schema;
  return { ...data, __schema: { ...s, types: byName(s.types), directives: byName(s.directives) } };
}

// The first place where a and b differ, as "path: a vs b", or null.
function diff(a, b, path) {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) ||
      (a === null) !== (b === null)) {
    return `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
  }
  if (Array.isArray(a)) {
    if (a.length !== b.length) {
      return `${path}: length ${a.length} vs ${b.length}: ` +
        `${JSON.stringify(a.map((x) => x && x.name))} vs ${JSON.stringify(b.map((x) => x && x.name))}`;
    }
    for (let i = 0; i < a.length; i++) {
      const d = diff(a[i], b[i], `${path}[${i}${a[i] && a[i].name ? ' ' + a[i].name : ''}]`);
      if (d) return d;
    }
    return null;
  }
  if (a && typeof a === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    if (ka.join() !== kb.join()) return `${path}: keys ${ka} vs ${kb}`;
    for (const k of ka) {
      const d = diff(a[k], b[k], `${path}.${k}`);
      if (d) return d;
    }
    return null;
  }
  return a === b ? null : `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const job = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const query = getIntrospectionQuery(OPTIONS);

if (job.mode === 'query') {
  console.log(JSON.stringify({ query }));
} else if (job.mode === 'run') {
  // execute() without validate(): what is compared is execution
  const result = execute({
    schema: buildSchema(job.sdl),
    document: parse(job.query),
    rootValue: job.answers || {},
    variableValues: job.variables || null,
  });
  console.log(JSON.stringify(result));
} else {
  const out = { built: false };
  const schema = buildSchema(job.sdl);
  out.expected = printSchema(schema);
  out.expectedSorted = printSchema(lexicographicSortSchema(schema));
  try {
    const client = buildClientSchema(job.result.data);
    out.built = true;
    out.printed = printSchema(client);
    out.printedSorted = printSchema(lexicographicSortSchema(client));
  } catch (e) {
    out.error = String(e && e.stack ? e.stack : e);
  }
  const mine = graphqlSync({ schema, source: query });
  out.introDiff = job.result.data
    ? diff(normalise(job.result.data), normalise(mine.data), 'data')
    : 'no data';
  console.log(JSON.stringify(out));
}

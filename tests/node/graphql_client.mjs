// A real GraphQL client against doppel: graphql-request (v7) sends queries,
// graphql-js checks the introspection result.
//
//   node graphql_client.mjs requests URL SPEC.json
//     SPEC: [{"query", "variables", "headers", "method": "GET"|"POST",
//             "batch": [{"document", "variables"}]}, ...]
//     prints [{"data"} | {"batch": [...]} | {"error": {"status", "errors"}}]
//   node graphql_client.mjs introspect URL SDL_FILE
//     prints {"ours": printSchema(buildClientSchema(doppel's introspection)),
//             "theirs": printSchema(buildSchema(SDL)), "oursSorted",
//             "theirsSorted" (the same after lexicographicSortSchema),
//             "valid": validateSchema's messages}
import { readFileSync } from 'node:fs';
import { GraphQLClient, ClientError, gql } from 'graphql-request';
import {
  buildClientSchema, buildSchema, getIntrospectionQuery,
  lexicographicSortSchema, printSchema, validateSchema,
} from 'graphql';

const [mode, url, file] = process.argv.slice(2);

async function runRequests() {
  const spec = JSON.parse(readFileSync(file, 'utf8'));
  const out = [];
  for (const item of spec) {
    const client = new GraphQLClient(url, {
      headers: item.headers || {},
      method: item.method || 'POST',
    });
    try {
      if (item.batch) {
        const r = await client.batchRequests(item.batch.map((b) => ({
          document: gql`${b.document}`, variables: b.variables,
        })));
        out.push({ batch: r });
      } else {
        const data = await client.request(gql`${item.query}`,
          item.variables || {});
        out.push({ data });
      }
    } catch (e) {
      if (e instanceof ClientError) {
        out.push({ error: { status: e.response.status,
          errors: e.response.errors, data: e.response.data } });
      } else {
        out.push({ error: { message: String(e) } });
      }
    }
  }
  return out;
}

async function introspect() {
  const client = new GraphQLClient(url);
  const data = await client.request(getIntrospectionQuery({
    descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true,
    schemaDescription: true, inputValueDeprecation: true,
  }));
  const schema = buildClientSchema(data);
  const sdl = readFileSync(file, 'utf8');
  const built = buildSchema(sdl);
  return {
    ours: printSchema(schema),
    theirs: printSchema(built),
    // the order of __schema.types carries no meaning (doppel lists them by
    // name): compared also with both sorted
    oursSorted: printSchema(lexicographicSortSchema(schema)),
    theirsSorted: printSchema(lexicographicSortSchema(built)),
    valid: validateSchema(schema).map((e) => e.message),
  };
}

const run = mode === 'introspect' ? introspect : runRequests;
run().then((r) => {
  process.stdout.write(JSON.stringify(r));
}, (e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});

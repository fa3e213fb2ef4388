// The graphql-ws client library (graphql-transport-ws) against doppel.
//
//   node graphql/ws_client.mjs URL SPEC.json
//     SPEC: {"connectionParams": {...},
//            "ops": [{"query", "variables", "operationName",
//                     "take": N}, ...]}
//     Runs every operation at once on one client and prints one JSON line
//     per thing that happens, as it happens (so that a test can act in
//     between, e.g. publish once it saw the first event):
//       {"i": k, "next": payload}   a result or an event of operation k
//       {"i": k, "complete": true}  the server completed it
//       {"i": k, "error": [...]}    an "error" message (GraphQL errors)
//       {"i": k, "closed": code, "reason": text}  the socket closed
//       {"i": k, "stopped": true}   "take" events seen: completed by us
//       {"done": true}              every operation ended
import WebSocket from 'ws';
import { readFileSync } from 'node:fs';
import { createClient } from 'graphql-ws';

const [url, file] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(file, 'utf8'));
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  retryAttempts: 0,
  lazy: true,
  connectionParams: spec.connectionParams,
});

function run(op, i) {
  return new Promise((resolve) => {
    let seen = 0;
    let stop = null;
    let over = false;
    const end = (o) => {
      if (over) return;
      over = true;
      say(o);
      resolve();
    };
    stop = client.subscribe(
      { query: op.query, variables: op.variables,
        operationName: op.operationName },
      {
        next: (payload) => {
          if (over) return;
          say({ i, next: payload });
          seen += 1;
          if (op.take && seen >= op.take) {
            // defer: the unsubscribe function exists once subscribe returned
            setImmediate(() => { stop(); end({ i, stopped: true }); });
          }
        },
        error: (err) => {
          if (Array.isArray(err)) end({ i, error: err });
          else if (err && typeof err.code === 'number')
            end({ i, closed: err.code, reason: err.reason });
          else end({ i, error: [{ message: String(err && err.message) }] });
        },
        complete: () => end({ i, complete: true }),
      },
    );
  });
}

await Promise.all(spec.ops.map(run));
say({ done: true });
await client.dispose();
process.exit(0);

// A real EventSource (the `eventsource` package, WHATWG semantics) against
// doppel's SSE plugin, for tests/integration/test_sse.py.
//
//   node sse_client.mjs URL NAMES MAX TIMEOUT_MS [HEADERS_JSON]
//
// Listens for "message" and each comma-separated event NAME, and prints
// one JSON object once MAX events arrived, the client gave up (the server
// answered 204 or an error status: readyState CLOSED), or TIMEOUT_MS
// passed: {"events": [{"type", "data", "lastEventId"}], "opens": n,
// "closed": bool, "timedOut": bool}. The client reconnects by itself when
// a stream ends, sending Last-Event-ID, as browsers do.
import { EventSource } from 'eventsource';

const [url, names, max, timeoutMs, headersJson] = process.argv.slice(2);
const extra = headersJson ? JSON.parse(headersJson) : {};
const out = { events: [], opens: 0, closed: false, timedOut: false };

const es = new EventSource(url, {
  fetch: (input, init) =>
    fetch(input, { ...init, headers: { ...init.headers, ...extra } }),
});

function finish() {
  es.close();
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

function onEvent(ev) {
  out.events.push({ type: ev.type, data: ev.data, lastEventId: ev.lastEventId });
  if (out.events.length >= Number(max)) finish();
}

es.addEventListener('message', onEvent);
for (const n of (names || '').split(',').filter(Boolean))
  es.addEventListener(n, onEvent);
es.onopen = () => { out.opens++; };
es.onerror = () => {
  if (es.readyState === EventSource.CLOSED) {
    out.closed = true;
    finish();
  }
};
setTimeout(() => { out.timedOut = true; finish(); }, Number(timeoutMs));

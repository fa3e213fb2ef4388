// Drives WebSocket clients (the `ws` package) through a scenario read as
// JSON from stdin, for tests/integration/test_websocket.py, and prints what
// every client saw as JSON on stdout.
//
// {"base": "ws://127.0.0.1:PORT", "http": "http://127.0.0.1:PORT",
//  "token": "...", "steps": [
//   {"open": "a", "path": "/ws", "protocols": ["x"], "headers": {...},
//    "origin": "...", "deflate": true},
//   {"send": "a", "data": "text"} | {"send": "a", "binary": "<base64>"},
//   {"wait": "a", "count": N, "timeout": ms},   // N messages in all
//   {"waitClose": "a", "timeout": ms},
//   {"close": "a", "code": 1000, "reason": "bye"},
//   {"sleep": ms},
//   {"api": "GET" | "POST", "path": "/api/v1/...", "body": {...}}]}
//
// Output: {"clients": {name: {"opened", "status", "protocol",
// "extensions", "messages": [{"text" | "binary", "ms"}], "close":
// {"code", "reason"}, "error"}}, "api": [{"status", "body"}]}
import WebSocket from "ws";

const input = JSON.parse(await new Promise((res) => {
  let s = "";
  process.stdin.on("data", (d) => (s += d));
  process.stdin.on("end", () => res(s));
}));

const clients = {};
const out = { clients: {}, api: [] };
const t0 = Date.now();

function record(name) {
  return (out.clients[name] ??= { opened: false, messages: [] });
}

function until(pred, timeout, what) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + (timeout ?? 5000);
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() > deadline) return reject(new Error("timeout: " + what));
      setTimeout(tick, 5);
    };
    tick();
  });
}

function open(step) {
  const r = record(step.open);
  const opts = { headers: step.headers ?? {} };
  if (step.origin) opts.origin = step.origin;
  if (step.deflate === false) opts.perMessageDeflate = false;
  const ws = new WebSocket(input.base + step.path, step.protocols ?? [], opts);
  clients[step.open] = ws;
  ws.binaryType = "nodebuffer";
  let settled = false;
  return new Promise((resolve) => {
    ws.on("open", () => {
      r.opened = true;
      r.protocol = ws.protocol;
      r.extensions = ws.extensions;
      settled = true;
      resolve();
    });
    ws.on("unexpected-response", (req, res) => {
      r.status = res.statusCode;
      settled = true;
      res.resume();
      resolve();
    });
    ws.on("message", (data, isBinary) => {
      const m = { ms: Date.now() - t0 };
      if (isBinary) m.binary = Buffer.from(data).toString("base64");
      else m.text = data.toString("utf8");
      r.messages.push(m);
    });
    ws.on("close", (code, reason) => {
      r.close = { code, reason: reason.toString("utf8") };
      if (!settled) {
        settled = true;
        resolve();
      }
    });
    ws.on("error", (e) => {
      r.error = String(e.message ?? e);
      if (!settled) {
        settled = true;
        resolve();
      }
    });
  });
}

async function api(step) {
  const res = await fetch(input.http + step.path, {
    method: step.api,
    headers: { "Content-Type": "application/json", "X-API-Key": input.token },
    body: step.body === undefined ? undefined : JSON.stringify(step.body),
  });
  const text = await res.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch { /* left as text */ }
  out.api.push({ status: res.status, body });
}

let failed = null;
try {
  for (const step of input.steps) {
    if (step.open) await open(step);
    else if (step.send) {
      const ws = clients[step.send];
      if (step.binary !== undefined)
        ws.send(Buffer.from(step.binary, "base64"), { binary: true });
      else ws.send(step.data);
    } else if (step.wait) {
      const r = record(step.wait);
      await until(() => r.messages.length >= step.count, step.timeout,
                  `${step.wait} to get ${step.count} messages`);
    } else if (step.waitClose) {
      const r = record(step.waitClose);
      await until(() => r.close !== undefined, step.timeout,
                  `${step.waitClose} to close`);
    } else if (step.close) {
      clients[step.close].close(step.code, step.reason);
    } else if (step.sleep !== undefined) {
      await new Promise((r) => setTimeout(r, step.sleep));
    } else if (step.api) await api(step);
  }
} catch (e) {
  failed = String(e.message ?? e);
}
out.failed = failed;
for (const ws of Object.values(clients)) ws.terminate();
process.stdout.write(JSON.stringify(out));

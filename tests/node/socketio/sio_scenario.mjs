// Drives socket.io clients (socket.io-client) through a scenario read as
// JSON from stdin, for tests/integration/test_socketio.py, and prints what
// every client saw as JSON on stdout.
//
// {"base": "http://127.0.0.1:PORT", "token": "...", "steps": [
//   {"open": "a", "nsp": "/chat", "prefix": "/stubs/team",
//    "transports": ["polling", "websocket"], "upgrade": true,
//    "auth": {...}, "query": {...}, "headers": {...}, "reconnection": false,
//    "wait": true},                 // wait for connect or connect_error
//   {"emit": "a", "event": "hello", "args": [...], "ack": true,
//    "binary": "<base64>"},         // binary: one more argument, a Buffer
//   {"wait": "a", "count": N, "timeout": ms},   // N events in all
//   {"waitAcks": "a", "count": N}, {"waitConnects": "a", "count": N},
//   {"waitDisconnects": "a", "count": N},
//   {"waitTransport": "a", "name": "websocket"},
//   {"disconnect": "a"}, {"sleep": ms},
//   {"api": "GET" | "POST", "path": "/api/v1/...", "body": {...}}]}
//
// Output: {"clients": {name: {"connects", "connectError", "disconnects":
// [reason], "events": [{"event", "args", "ms"}], "acks": [[args]],
// "transport", "sid"}}, "api": [{"status", "body"}], "failed"}
import { io } from "socket.io-client";

const input = JSON.parse(await new Promise((res) => {
  let s = "";
  process.stdin.on("data", (d) => (s += d));
  process.stdin.on("end", () => res(s));
}));

const sockets = {};
const out = { clients: {}, api: [] };
const t0 = Date.now();

function record(name) {
  return (out.clients[name] ??= {
    connects: 0, disconnects: [], events: [], acks: [], transports: [],
  });
}

function until(pred, timeout, what) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + (timeout ?? 8000);
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() > deadline) return reject(new Error("timeout: " + what));
      setTimeout(tick, 5);
    };
    tick();
  });
}

// Buffers as {"binary": base64}, so that JSON carries them.
function plain(v) {
  if (v instanceof ArrayBuffer) v = Buffer.from(v);
  if (Buffer.isBuffer(v)) return { binary: v.toString("base64") };
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = plain(x);
    return o;
  }
  return v;
}

async function open(step) {
  const r = record(step.open);
  const opts = {
    path: (step.prefix ?? "") + (step.path ?? "/socket.io/"),
    transports: step.transports ?? ["polling", "websocket"],
    upgrade: step.upgrade ?? true,
    reconnection: step.reconnection ?? false,
    reconnectionDelay: 100,
    reconnectionDelayMax: 200,
    forceNew: true,
    timeout: 5000,
  };
  if (step.auth) opts.auth = step.auth;
  if (step.query) opts.query = step.query;
  if (step.headers) opts.extraHeaders = step.headers;
  const s = io(input.base + (step.nsp ?? "/"), opts);
  sockets[step.open] = s;
  // the upgrade may come before the socket's connect: listen from the
  // engine's open on
  s.io.on("open", () => {
    r.transport = s.io.engine.transport.name;
    s.io.engine.on("upgrade", (t) => {
      r.transport = t.name;
      r.transports.push(t.name);
    });
  });
  s.on("connect", () => {
    r.connects++;
    r.sid = s.id;
  });
  s.on("connect_error", (e) => { r.connectError = String(e.message ?? e); });
  s.on("disconnect", (reason) => r.disconnects.push(reason));
  s.onAny((event, ...args) => {
    r.events.push({ event, args: plain(args), ms: Date.now() - t0 });
  });
  if (step.wait ?? true)
    await until(() => r.connects > 0 || r.connectError !== undefined,
                step.timeout, `${step.open} to connect`);
}

async function api(step) {
  const res = await fetch(input.base + step.path, {
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
    else if (step.emit) {
      const s = sockets[step.emit];
      const r = record(step.emit);
      const args = [...(step.args ?? [])];
      if (step.binary !== undefined) args.push(Buffer.from(step.binary, "base64"));
      if (step.ack) args.push((...res) => r.acks.push(plain(res)));
      s.emit(step.event, ...args);
    } else if (step.wait) {
      const r = record(step.wait);
      await until(() => r.events.length >= step.count, step.timeout,
                  `${step.wait} to get ${step.count} events`);
    } else if (step.waitAcks) {
      const r = record(step.waitAcks);
      await until(() => r.acks.length >= step.count, step.timeout,
                  `${step.waitAcks} to get ${step.count} acks`);
    } else if (step.waitConnects) {
      const r = record(step.waitConnects);
      await until(() => r.connects >= step.count, step.timeout,
                  `${step.waitConnects} to connect ${step.count} times`);
    } else if (step.waitDisconnects) {
      const r = record(step.waitDisconnects);
      await until(() => r.disconnects.length >= step.count, step.timeout,
                  `${step.waitDisconnects} to disconnect`);
    } else if (step.waitTransport) {
      const r = record(step.waitTransport);
      await until(() => r.transport === step.name, step.timeout,
                  `${step.waitTransport} on ${step.name}`);
    } else if (step.disconnect) {
      sockets[step.disconnect].disconnect();
    } else if (step.sleep !== undefined) {
      await new Promise((r) => setTimeout(r, step.sleep));
    } else if (step.api) await api(step);
  }
} catch (e) {
  failed = String(e.message ?? e);
}
out.failed = failed;
for (const s of Object.values(sockets)) s.disconnect();
// let the DISCONNECT packets go out before the process ends
await new Promise((r) => setTimeout(r, 50));
process.stdout.write(JSON.stringify(out));
process.exit(0);

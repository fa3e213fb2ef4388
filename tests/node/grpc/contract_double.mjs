#!/usr/bin/env node
// A stand-in for `doppel serve` with the gRPC plugin, written with grpc-js,
// that follows the gRPC mock contract (docs/grpc.md; the mock format's grpc
// section) closely enough to run the doppel gRPC integration tests
// against. It exists to test the tests: a test that fails here and against
// doppel is suspect, one that passes here and fails against doppel points
// at doppel. It is not doppel and not a reference for doppel's behaviour
// where the two differ (HTTP/2 details are grpc-js's; reflection file
// names are @grpc/reflection's; no auth, no persistence).
//
//   tests/node/grpc/run_against_double.sh [test_grpc_calls.py ...]
//
// Takes the command line the test harness gives doppel:
//   contract_double.mjs serve --listen H:0 --data DIR --config plugins.conf
// and logs "listening on H:P" and "listening on H:Q (grpc)" as doppel does.

import fs from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'package.json'));
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const { ReflectionService } = require('@grpc/reflection');
const CLIENT_PROTOS = path.resolve(here, '..', '..', 'integration', 'fixtures', 'grpc', 'client');

// -- command line and plugins.conf ------------------------------------------
function argv(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : null;
}
function parseIni(text) {
  const out = {};
  let sec = null;
  for (let line of text.split('\n')) {
    line = line.replace(/\s+#.*$/, '').trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const m = line.match(/^\[(.+)\]$/);
    if (m) { sec = m[1]; out[sec] = out[sec] || {}; continue; }
    const kv = line.match(/^([^=]+?)\s*=\s*(.*)$/);
    if (kv && sec) out[sec][kv[1]] = kv[2];
  }
  return out;
}
const conf = parseIni(fs.readFileSync(argv('--config'), 'utf8'));
const gconf = conf.grpc || {};
const on = (v, d) => (v === undefined ? d : v === 'true');
function size(v, d) {
  if (!v) return d;
  const m = String(v).match(/^(\d+)([kmg]?)$/i);
  const mul = { '': 1, k: 1024, m: 1 << 20, g: 1 << 30 }[(m[2] || '').toLowerCase()];
  return Number(m[1]) * mul;
}
const MAX_MSG = size(gconf.max_message_size, 4 << 20);
const NS_DEFAULT = gconf.namespace || 'sandbox';

// -- protos ------------------------------------------------------------------
const protoDirs = (gconf.proto_path || '').split(':').filter(Boolean);
function protoFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.proto')) out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out;
}
const uploadDir = fs.mkdtempSync(path.join(argv('--data') || '/tmp', 'protos-'));
const includeDirs = () => [...protoDirs, uploadDir, '/usr/include'];
const LOADER = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: false };

function rootFor(files) {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    for (const d of includeDirs()) {
      const p = path.join(d, target);
      if (fs.existsSync(p)) return p;
    }
    return target;
  };
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}

const loaded = [];   // relative file names
const services = new Map();   // full name -> protobufjs Service
let root = null;
function loadAll(files) {
  const r = rootFor(files);
  const svcs = new Map();
  const walk = (ns) => {
    for (const o of ns.nestedArray || []) {
      if (o instanceof protobuf.Service) svcs.set(o.fullName.slice(1), o);
      if (o.nestedArray) walk(o);
    }
  };
  walk(r);
  return { r, svcs };
}

// -- stores, mocks, journal ------------------------------------------------
const mocks = [];
const journal = [];
const unmatched = [];
const metrics = new Map();
let nextId = 1;
const namespaces = new Set(['sandbox']);

const snakeToCamel = (s) => s.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
function normPath(p) {
  let s = String(p);
  if (s.startsWith('$.body.')) s = s.slice(7);
  else if (s.startsWith('$.')) s = s.slice(2);
  else if (s === '$' || s === '$.body') s = '';
  return s.replace(/\[(\d+)\]/g, '.$1').split('.').filter((x) => x !== '');
}
function lookup(obj, segs) {
  let cur = obj;
  for (const seg of segs) {
    if (cur === null || cur === undefined) return undefined;
    if (Array.isArray(cur)) { cur = cur[Number(seg)]; continue; }
    if (typeof cur !== 'object') return undefined;
    if (seg in cur) cur = cur[seg];
    else if (snakeToCamel(seg) in cur) cur = cur[snakeToCamel(seg)];
    else return undefined;
  }
  return cur;
}
function same(a, b) {
  if (typeof a === 'number' && typeof b === 'string') return String(a) === b;
  if (typeof b === 'number' && typeof a === 'string') return String(b) === a;
  return JSON.stringify(a) === JSON.stringify(b);
}
function check(cond, actual) {
  const v = cond.value;
  switch (cond.assertAction || 'equals') {
    case 'equals': return same(actual, v);
    case 'not_equals': return !same(actual, v);
    case 'contains': return actual !== undefined && JSON.stringify(actual).includes(String(v));
    case 'not_contains': return actual === undefined || !JSON.stringify(actual).includes(String(v));
    case 'any': return true;
    case 'notEmpty': return actual !== undefined && actual !== null && actual !== '' &&
      !(Array.isArray(actual) && !actual.length);
    case 'empty': return actual === undefined || actual === null || actual === '' ||
      (Array.isArray(actual) && !actual.length);
    case 'matches': return actual !== undefined && new RegExp(String(v)).test(String(actual));
    default: return false;
  }
}
function evaluate(mock, doc, md) {
  const failed = [];
  for (const c of mock.grpc.conditions || []) {
    const a = lookup(doc, normPath(c.path));
    if (!check(c, a)) failed.push({ where: 'body', path: c.path, reason: `${c.path}: expected ${JSON.stringify(c.value)}, found ${JSON.stringify(a)}` });
  }
  for (const c of mock.grpc.meta || []) {
    const a = md[String(c.path).toLowerCase()];
    if (!check(c, a)) failed.push({ where: 'header', path: c.path, reason: `${c.path}: expected ${JSON.stringify(c.value)}, found ${JSON.stringify(a)}` });
  }
  return failed;
}
function match(ns, service, method, event, doc, md) {
  const cands = mocks.filter((m) => m.namespace === ns && m.grpc.service === service &&
    !(m.useLimiter && m.useCounter >= m.useLimiter) &&
    m.grpc.method === method && (m.grpc.streamEvent || 'message') === event);
  const near = [];
  let best = null;
  for (const m of cands) {
    const f = evaluate(m, doc, md);
    if (!f.length) {
      if (!best || (m.priority || 0) > (best.priority || 0)) best = m;
    } else near.push({ mockId: m.id, priority: m.priority || 0, failed: f });
  }
  return { mock: best, near };
}

function render(tpl, ctx) {
  if (typeof tpl === 'string') {
    if (tpl === '$.session.count') return ctx.count || 0;
    const whole = tpl.match(/^\$\.(req|body)((?:\.[A-Za-z0-9_]+|\[\d+\])*)$/);
    if (whole) {
      const v = lookup(ctx.doc, normPath('$' + whole[2]));
      return v === undefined ? null : v;
    }
    if (tpl === '$.fake.UUID') return crypto.randomUUID();
    return tpl.replace(/\$\.session\.count/g, String(ctx.count || 0)).replace(/\$\$|\$\.(reqHeader)\.([A-Za-z0-9_-]+)|\$\.(req|body|cS|gS|sS)((?:\.[A-Za-z0-9_]+|\[\d+\])*)/g,
      (all, rh, hname, kind, p) => {
        if (all === '$$') return '$';
        let v;
        if (rh) v = ctx.md[hname.toLowerCase()];
        else if (kind === 'cS') v = lookup(ctx.chain || {}, normPath('$' + p));
        else if (kind === 'sS') v = lookup(ctx.cs, normPath('$' + p));
        else if (kind === 'gS') v = lookup(ctx.gs, normPath('$' + p));
        else v = lookup(ctx.doc, normPath('$' + p));
        if (v === undefined || v === null) return '';
        return typeof v === 'object' ? JSON.stringify(v) : String(v);
      });
  }
  if (Array.isArray(tpl)) return tpl.map((x) => render(x, ctx));
  if (tpl && typeof tpl === 'object') {
    const o = {};
    for (const [k, v] of Object.entries(tpl)) o[k] = render(v, ctx);
    return o;
  }
  return tpl;
}

// proto3 JSON -> protobufjs object (Timestamp, Duration, Struct, enums)
function fromJson(type, json) {
  if (json === null || json === undefined) return json;
  const name = type.fullName;
  if (name === '.google.protobuf.Timestamp' && typeof json === 'string') {
    const ms = Date.parse(json);
    const t = { seconds: String(Math.floor(ms / 1000)) };
    if (ms % 1000) t.nanos = (ms % 1000) * 1e6;
    return t;
  }
  if (name === '.google.protobuf.Duration' && typeof json === 'string') {
    const f = parseFloat(json);
    const s = Math.trunc(f);
    return { seconds: String(s), nanos: Math.round((f - s) * 1e9) };
  }
  if (name === '.google.protobuf.Struct') return { fields: structFields(json) };
  if (name === '.google.protobuf.Value') return value(json);
  const out = {};
  for (const [k, v] of Object.entries(json)) {
    const f = fieldOf(type, k);
    if (!f) continue;
    const key = snakeToCamel(f.name);
    if (f.resolvedType instanceof protobuf.Type) {
      if (f.map) {
        const o = {};
        for (const [mk, mv] of Object.entries(v)) o[mk] = fromJson(f.resolvedType, mv);
        out[key] = o;
      } else if (f.repeated) out[key] = v.map((x) => fromJson(f.resolvedType, x));
      else out[key] = fromJson(f.resolvedType, v);
    } else out[key] = v;
  }
  return out;
}
function value(v) {
  if (v === null) return { nullValue: 'NULL_VALUE' };
  if (Array.isArray(v)) return { listValue: { values: v.map(value) } };
  if (typeof v === 'object') return { structValue: { fields: structFields(v) } };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  return { stringValue: String(v) };
}
function structFields(o) {
  const f = {};
  for (const [k, v] of Object.entries(o || {})) f[k] = value(v);
  return f;
}
function fieldOf(type, name) {
  if (!type.fields) return null;
  for (const f of Object.values(type.fields)) {
    if (f.name === name || snakeToCamel(f.name) === name) return f;
  }
  return null;
}

// -- write-time checks ---------------------------------------------------------
class Invalid extends Error {
  constructor(field, msg) { super(msg); this.field = field; }
}
const KINDS = ['unary', 'server-stream', 'client-stream', 'bidirectional'];
const kindOf = (m) => (m.requestStream && m.responseStream ? 'bidirectional'
  : m.requestStream ? 'client-stream' : m.responseStream ? 'server-stream' : 'unary');
const FREE = new Set(['.google.protobuf.Struct', '.google.protobuf.Value',
  '.google.protobuf.ListValue', '.google.protobuf.Any']);

function checkPath(type, segs, field, kind) {
  let t = type;
  let i = 0;
  if (kind === 'client-stream') {
    if (segs[0] === 'count') return;
    if (segs[0] === 'first' || segs[0] === 'last') i = 1;
    else if (segs[0] === 'messages') i = /^\d+$/.test(segs[1] || '') ? 2 : 1;
    else throw new Invalid(field, `unknown field "${segs[0]}" in the client-stream document`);
  }
  for (; i < segs.length; i++) {
    if (!t || FREE.has(t.fullName)) return;
    const f = fieldOf(t, segs[i]);
    if (!f) throw new Invalid(field, `unknown field "${segs[i]}" in ${t.fullName.slice(1)}`);
    if (f.map) return;
    if (f.repeated && /^\d+$/.test(segs[i + 1] || '')) i++;
    t = f.resolvedType instanceof protobuf.Type ? f.resolvedType : null;
  }
}
const isTpl = (v) => typeof v === 'string' && v.includes('$.');
function checkJson(type, json, field) {
  if (FREE.has(type.fullName)) return;
  if (type.fullName === '.google.protobuf.Timestamp' || type.fullName === '.google.protobuf.Duration') {
    if (typeof json !== 'string') throw new Invalid(field, 'expected a string');
    return;
  }
  if (isTpl(json)) return;
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new Invalid(field, 'expected an object');
  for (const [k, v] of Object.entries(json)) {
    const f = fieldOf(type, k);
    const fp = field + '.' + k;
    if (!f) throw new Invalid(fp, `unknown field "${k}" in ${type.fullName.slice(1)}`);
    const one = (x, p) => {
      if (isTpl(x)) return;
      if (f.resolvedType instanceof protobuf.Type) return checkJson(f.resolvedType, x, p);
      if (f.resolvedType instanceof protobuf.Enum) {
        if (!(x in f.resolvedType.values)) throw new Invalid(p, `"${x}" is not a value of ${f.resolvedType.name}`);
        return;
      }
      if (f.type === 'string' || f.type === 'bytes') {
        if (typeof x !== 'string') throw new Invalid(p, 'expected a string');
      } else if (f.type === 'bool') {
        if (typeof x !== 'boolean') throw new Invalid(p, 'expected a boolean');
      } else if (typeof x !== 'number' && !(typeof x === 'string' && /^-?\d+(\.\d+)?$/.test(x))) {
        throw new Invalid(p, `${k}: expected a number, got ${typeof x}`);
      }
    };
    if (f.map) for (const [mk, mv] of Object.entries(v)) one(mv, fp + '.' + mk);
    else if (f.repeated) {
      if (!Array.isArray(v)) throw new Invalid(fp, 'expected an array');
      v.forEach((x, i) => one(x, `${fp}[${i}]`));
    } else one(v, fp);
  }
}
const DETAIL_TYPES = ['badRequest', 'help', 'debugInfo', 'errorInfo', 'localizedMessage',
  'preconditionFailure', 'quotaFailure', 'requestInfo', 'resourceInfo', 'retryInfo'];
const rpcRoot = (() => {
  const r = new protobuf.Root();
  r.resolvePath = (o, t) => {
    for (const d of [CLIENT_PROTOS, '/usr/include']) {
      const p = path.join(d, t);
      if (fs.existsSync(p)) return p;
    }
    return t;
  };
  r.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
  r.resolveAll();
  return r;
})();
const detailType = (kind) => rpcRoot.lookupType('google.rpc.' + kind[0].toUpperCase() + kind.slice(1));

function validate(m) {
  const g = m.grpc;
  if (!g || typeof g !== 'object') throw new Invalid('grpc', 'missing');
  if (g.serviceName && !g.service) g.service = g.serviceName;
  const svc = services.get(g.service);
  if (!svc) throw new Invalid('grpc.service', `unknown service "${g.service}"`);
  const meth = svc.methods[g.method];
  if (!meth) throw new Invalid('grpc.method', `unknown method "${g.method}" in ${g.service}`);
  const kind = kindOf(meth);
  if (g.methodType !== undefined && (!KINDS.includes(g.methodType) || g.methodType !== kind)) {
    throw new Invalid('grpc.methodType', `${g.method} is ${kind}, not ${g.methodType}`);
  }
  const inT = meth.resolvedRequestType;
  const outT = meth.resolvedResponseType;
  (g.conditions || []).forEach((c, i) => {
    const segs = normPath(c.path);
    checkPath(inT, segs, `grpc.conditions[${i}].path`, kind);
    c.path = segs.map((s) => (/^\d+$/.test(s) ? s : snakeToCamel(s))).join('.');
  });
  const r = m.response;
  if (!r) throw new Invalid('response', 'missing');
  if (r.statusCode !== undefined && !(Number.isInteger(r.statusCode) && r.statusCode >= 0 && r.statusCode <= 16)) {
    throw new Invalid('response.statusCode', 'a gRPC status code is 0..16');
  }
  if (r.payload !== undefined) checkJson(outT, r.payload, 'response.payload');
  (r.streamResponses || []).forEach((s, i) => {
    if (s.payload !== undefined) checkJson(outT, s.payload, `response.streamResponses[${i}].payload`);
  });
  (r.errorDetails || []).forEach((d, i) => {
    if (!DETAIL_TYPES.includes(d.type)) throw new Invalid(`response.errorDetails[${i}].type`, `unknown detail type "${d.type}"`);
    const t = detailType(d.type);
    for (const k of Object.keys(d.details || {})) {
      if (!fieldOf(t, k)) throw new Invalid(`response.errorDetails[${i}].details.${k}`, `unknown field "${k}" in ${t.name}`);
    }
  });
  return m;
}

function statusDetailsBin(code, message, details) {
  const root2 = new protobuf.Root();
  root2.resolvePath = rpcRoot.resolvePath;
  if (!statusDetailsBin.r) {
    statusDetailsBin.r = root2;
    root2.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
  }
  const r = statusDetailsBin.r;
  const Status = r.lookupType('google.rpc.Status');
  const packed = details.map((d) => {
    const name = 'google.rpc.' + d.type[0].toUpperCase() + d.type.slice(1);
    const T = r.lookupType(name);
    return { type_url: 'type.googleapis.com/' + name, value: T.encode(T.fromObject(fromJson(T, d.details || {}))).finish() };
  });
  return Buffer.from(Status.encode(Status.fromObject({ code, message, details: packed })).finish());
}

// -- serving -------------------------------------------------------------------
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function mdObject(md) {
  const o = {};
  for (const [k, v] of Object.entries(md.getMap())) o[k] = Buffer.isBuffer(v) ? v.toString('base64') : String(v);
  return o;
}
function toMd(obj) {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(obj || {})) md.set(k.toLowerCase(), String(v));
  return md;
}
function count(service, method, code) {
  const k = `${service}|${method}|${Object.keys(grpc.status).find((n) => grpc.status[n] === code)}`;
  metrics.set(k, (metrics.get(k) || 0) + 1);
}
function record(list, e) {
  e.id = String(nextId++);
  e.time = new Date().toISOString();
  list.unshift(e);
}
function miss(ns, svc, method, doc, md, near) {
  record(unmatched, { namespace: ns, protocol: 'grpc', method, path: `/${svc}/${method}`,
    headers: md, body: doc, nearMisses: near });
  const summary = near.slice(0, 5).map((n) => n.failed.map((f) => f.reason).join('; ')).join(' | ');
  return { code: grpc.status.NOT_FOUND, details: 'no mock matched' + (summary ? ': ' + summary : '') };
}
const chains = new Map();
function chainOf(ns, m) {
  if (!m.chainId) return {};
  const k = ns + '|' + m.chainId;
  if (!chains.has(k)) chains.set(k, {});
  return chains.get(k);
}
function hit(m, ns, svc, method, doc, md, cs) {
  m.useCounter = (m.useCounter || 0) + 1;
  record(journal, { namespace: ns, protocol: 'grpc', method, path: `/${svc}/${method}`,
    headers: md, body: doc, mockId: m.id, status: m.response.statusCode || 0 });
  const chain = chainOf(ns, m);
  if (m.extract) {
    const ctx = { doc, md, cs: cs || {}, gs: {}, chain };
    for (const [k, t] of Object.entries(m.extract.cStore || m.extract.cS || {})) chain[k] = render(t, ctx);
    if (cs) for (const [k, t] of Object.entries(m.extract.sStore || m.extract.sS || {})) cs[k] = render(t, ctx);
  }
}
function errorOf(m, ctx) {
  const r = m.response;
  const md = toMd(r.trailers);
  if (r.errorDetails) md.set('grpc-status-details-bin', statusDetailsBin(r.statusCode, r.error || '', r.errorDetails));
  return { code: r.statusCode, details: r.error || '', metadata: md };
}

function handlerFor(svc, mname, meth, outT) {
  const kind = kindOf(meth);
  const nsOf = (call) => {
    const v = call.metadata.get('x-doppel-namespace');
    return v.length ? String(v[0]) : NS_DEFAULT;
  };
  const out = (m, ctx, payload) => fromJson(outT, render(payload || {}, ctx));
  const streamMsgs = (m) => m.response.streamResponses ||
    (m.response.payload !== undefined ? [{ payload: m.response.payload }] : []);
  const answerOnce = async (call, cb, doc) => {
    const ns = nsOf(call);
    const md = mdObject(call.metadata);
    const { mock: m, near } = match(ns, svc, mname, 'message', doc, md);
    if (!m) { count(svc, mname, 5); cb(miss(ns, svc, mname, doc, md, near)); return; }
    hit(m, ns, svc, mname, doc, md, null);
    const ctx = { doc, md, cs: {}, gs: {} };
    if (m.response.delay) await sleep(m.response.delay);
    if (call.cancelled) return;
    count(svc, mname, m.response.statusCode || 0);
    if (m.response.statusCode) { cb(errorOf(m, ctx)); return; }
    if (m.response.headers) call.sendMetadata(toMd(m.response.headers));
    cb(null, out(m, ctx, m.response.payload), toMd(m.response.trailers));
  };
  if (kind === 'unary') return (call, cb) => { answerOnce(call, cb, call.request); };
  if (kind === 'client-stream') {
    return (call, cb) => {
      const msgs = [];
      call.on('data', (x) => msgs.push(x));
      call.on('end', () => answerOnce(call, cb, { messages: msgs, count: msgs.length,
        first: msgs[0] ?? null, last: msgs[msgs.length - 1] ?? null }));
    };
  }
  const sendAll = async (call, m, ctx) => {
    for (const s of streamMsgs(m)) {
      if (s.delay) await sleep(s.delay);
      if (call.cancelled) return false;
      call.write(out(m, ctx, s.payload));
    }
    return true;
  };
  const finish = (call, m, ctx) => {
    if (m && m.response.statusCode) call.emit('error', errorOf(m, ctx));
    else call.end(toMd(m ? m.response.trailers : {}));
  };
  if (kind === 'server-stream') {
    return async (call) => {
      const ns = nsOf(call);
      const md = mdObject(call.metadata);
      const doc = call.request;
      const { mock: m, near } = match(ns, svc, mname, 'message', doc, md);
      if (!m) { count(svc, mname, 5); call.emit('error', miss(ns, svc, mname, doc, md, near)); return; }
      hit(m, ns, svc, mname, doc, md, null);
      const ctx = { doc, md, cs: {}, gs: {} };
      if (m.response.headers) call.sendMetadata(toMd(m.response.headers));
      if (m.response.delay) await sleep(m.response.delay);
      if (!(await sendAll(call, m, ctx))) return;
      count(svc, mname, m.response.statusCode || 0);
      finish(call, m, ctx);
    };
  }
  return (call) => {   // bidirectional
    const ns = nsOf(call);
    const md = mdObject(call.metadata);
    const cs = {};
    let queue = Promise.resolve();
    const run = (f) => { queue = queue.then(f).catch(() => {}); };
    run(async () => {
      const { mock: m } = match(ns, svc, mname, 'open', {}, md);
      if (m) { hit(m, ns, svc, mname, {}, md, cs); await sendAll(call, m, { doc: {}, md, cs, gs: {}, chain: chainOf(ns, m) }); }
    });
    let n = 0;
    call.on('data', (doc) => run(async () => {
      n += 1;
      const { mock: m, near } = match(ns, svc, mname, 'message', doc, md);
      if (!m) { miss(ns, svc, mname, doc, md, near); return; }
      hit(m, ns, svc, mname, doc, md, cs);
      await sendAll(call, m, { doc, md, cs, gs: {}, count: n, chain: chainOf(ns, m) });
    }));
    call.on('end', () => run(async () => {
      const { mock: m } = match(ns, svc, mname, 'close', {}, md);
      const ctx = { doc: {}, md, cs, gs: {} };
      if (m) { hit(m, ns, svc, mname, {}, md, cs); if (!(await sendAll(call, m, ctx))) return; }
      count(svc, mname, m ? m.response.statusCode || 0 : 0);
      finish(call, m, ctx);
    }));
  };
}

const server = new grpc.Server({
  'grpc.max_receive_message_length': MAX_MSG,
  'grpc.max_send_message_length': MAX_MSG,
  'grpc.max_concurrent_streams': Number(gconf.max_concurrent_streams || 100),
});
function serveFiles(files) {
  const { r, svcs } = loadAll(files);
  const pkg = protoLoader.loadSync(files, { ...LOADER, includeDirs: includeDirs() });
  for (const [name, svc] of svcs) {
    if (services.has(name) || !pkg[name]) continue;
    const impl = {};
    for (const [mname, meth] of Object.entries(svc.methods)) {
      impl[mname] = handlerFor(name, mname, meth, meth.resolvedResponseType);
    }
    server.addService(pkg[name], impl);
    services.set(name, svc);
  }
  loaded.push(...files);
  root = r;
  return pkg;
}
let initialPkg = {};
const initialFiles = [];
for (const d of protoDirs) for (const f of protoFiles(d)) initialFiles.push(f);
try {
  initialPkg = serveFiles(initialFiles);
} catch (e) {
  let where = '';
  for (const d of protoDirs) {
    for (const f of protoFiles(d)) {
      try {
        protobuf.parse(fs.readFileSync(path.join(d, f), 'utf8'));
      } catch (pe) {
        const l = String(pe.message).match(/line (\d+)/);
        where = `${f}:${l ? l[1] : 1}:1: `;
      }
    }
  }
  console.error(`grpc: ${where}${e.message}`);
  process.exit(1);
}
if (on(gconf.health, true)) {
  const hp = protoLoader.loadSync('grpc/health/v1/health.proto', { ...LOADER, includeDirs: [CLIENT_PROTOS] });
  const known = (s) => !s || services.has(s);
  server.addService(hp['grpc.health.v1.Health'], {
    Check(call, cb) {
      if (!known(call.request.service)) cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
      else cb(null, { status: 'SERVING' });
    },
    Watch(call) {
      call.write({ status: known(call.request.service) ? 'SERVING' : 'SERVICE_UNKNOWN' });
      watchers.add(call);
      call.on('cancelled', () => watchers.delete(call));
    },
  });
}
let reflection = null;
const watchers = new Set();
if (on(gconf.reflection, true)) {
  reflection = new ReflectionService(initialPkg);
  reflection.addToServer(server);
}

// -- admin API ---------------------------------------------------------------------
function send(res, code, body) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(code, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
  res.end(text);
}
function page(items, url) {
  const ns = url.searchParams.get('namespace');
  const list = ns ? items.filter((x) => x.namespace === ns) : items;
  return { items: list, total: list.length, offset: 0, limit: 1000, hasMore: false };
}
function store(m, ns) {
  validate(m);
  m.replaced = mocks.some((x) => x.id === m.id);
  m.namespace = m.namespace || ns || 'sandbox';
  m.id = m.id || crypto.randomUUID();
  m.useCounter = 0;
  const i = mocks.findIndex((x) => x.id === m.id);
  if (i >= 0) mocks.splice(i, 1);
  mocks.push(m);
  return m;
}
async function admin(req, res) {
  const url = new URL(req.url, 'http://x');
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const raw = Buffer.concat(chunks);
  const json = () => JSON.parse(raw.toString('utf8') || 'null');
  const p = url.pathname;
  try {
    if (p === '/health/ready' || p === '/health/live') return send(res, 200, { status: 'pass' });
    if (p === '/metrics') {
      let t = '# TYPE doppel_grpc_requests_total counter\n';
      for (const [k, v] of metrics) {
        const [s, m, c] = k.split('|');
        t += `doppel_grpc_requests_total{service="${s}",method="${m}",code="${c}"} ${v}\n`;
      }
      return send(res, 200, t);
    }
    if (p === '/api/v1/namespaces' && req.method === 'POST') {
      namespaces.add(json().name);
      return send(res, 201, { name: json().name });
    }
    if (p === '/api/v1/mocks/batch' && req.method === 'POST') {
      const b = json();
      const out = [];
      b.mocks.forEach((m, i) => {
        try { validate(m); } catch (e) {
          if (e instanceof Invalid) e.field = `mocks[${i}].${e.field}`;
          throw e;
        }
      });
      for (const m of b.mocks) out.push(store(m, b.namespace));
      return send(res, 201, { mocks: out });
    }
    if (p === '/api/v1/mocks/validate' && req.method === 'POST') {
      validate(json());
      return send(res, 200, { valid: true });
    }
    if (p === '/api/v1/mocks' && req.method === 'POST') {
      const mk = store(json());
      return send(res, mk.replaced ? 200 : 201, { overwritten: !!mk.replaced, mock: mk });
    }
    if (p === '/api/v1/mocks' && req.method === 'GET') return send(res, 200, page(mocks, url));
    let m = p.match(/^\/api\/v1\/mocks\/([^/]+)$/);
    if (m && req.method === 'DELETE') {
      const i = mocks.findIndex((x) => x.id === m[1]);
      if (i >= 0) mocks.splice(i, 1);
      return send(res, i >= 0 ? 200 : 404, {});
    }
    if (m && req.method === 'GET') {
      const mk = mocks.find((x) => x.id === m[1]);
      return mk ? send(res, 200, mk) : send(res, 404, { error: 'not found', code: 'not_found' });
    }
    if (p === '/api/v1/requests') return send(res, 200, page(journal, url));
    if (p === '/api/v1/unmatched') return send(res, 200, page(unmatched, url));
    m = p.match(/^\/api\/v1\/schemas\/grpc\/(.+)$/);
    if (m && req.method === 'PUT') {
      const name = decodeURIComponent(m[1]);
      const text = raw.toString('utf8');
      try {
        protobuf.parse(text, { keepCase: true });
      } catch (e) {
        const l = String(e.message).match(/line (\d+)/);
        return send(res, 400, { error: `${name}:${l ? l[1] : 1}:1: ${e.message}`, code: 'validation', field: 'body' });
      }
      for (const imp of [...text.matchAll(/import\s+"([^"]+)"/g)].map((x) => x[1])) {
        if (!includeDirs().some((d) => fs.existsSync(path.join(d, imp)))) {
          return send(res, 400, { error: `${name}:1:1: import "${imp}" not found`, code: 'validation', field: 'body' });
        }
      }
      fs.writeFileSync(path.join(uploadDir, name), text);
      const pkg = serveFiles([name]);
      if (reflection) {
        // @grpc/reflection takes a package definition once: serve a merged one.
        server.unregister('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo');
        server.unregister('/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo');
        initialPkg = { ...initialPkg, ...pkg };
        reflection = new ReflectionService(initialPkg);
        reflection.addToServer(server);
      }
      return send(res, 201, { name });
    }
    return send(res, 404, { error: 'no such route', code: 'not_found' });
  } catch (e) {
    if (e instanceof Invalid) return send(res, 400, { error: `${e.field}: ${e.message}`, code: 'validation', field: e.field });
    return send(res, 400, { error: String(e.message), code: 'validation' });
  }
}

// -- ports ---------------------------------------------------------------------------
const httpServer = http.createServer((req, res) => { admin(req, res); });
const [lhost, lport] = (argv('--listen') || '127.0.0.1:0').split(':');
const ownListen = gconf.listen || '127.0.0.1:4770';
const ownOff = ownListen === 'off';
const grpcBind = ownOff ? '127.0.0.1:0' : ownListen;
server.bindAsync(grpcBind, grpc.ServerCredentials.createInsecure(), (err, gport) => {
  if (err) { console.error('grpc bind: ' + err.message); process.exit(1); }
  const main = net.createServer((sock) => {
    sock.once('data', (chunk) => {
      sock.pause();
      if (on(gconf.main_port, true) && chunk.slice(0, 3).toString() === 'PRI') {
        const up = net.connect(gport, '127.0.0.1', () => {
          up.write(chunk);
          sock.pipe(up).pipe(sock);
          sock.resume();
        });
        up.on('error', () => sock.destroy());
        sock.on('error', () => up.destroy());
      } else {
        sock.unshift(chunk);
        httpServer.emit('connection', sock);
        sock.resume();
      }
    });
  });
  main.listen(Number(lport), lhost, () => {
    console.log(`listening on ${lhost}:${main.address().port}`);
    if (!ownOff) console.log(`listening on ${grpcBind.split(':')[0]}:${gport} (grpc)`);
  });
});
// Drain: watchers see NOT_SERVING, calls in flight finish, then exit.
process.on('SIGTERM', () => {
  for (const w of watchers) { w.write({ status: 'NOT_SERVING' }); w.end(); }
  setTimeout(() => process.exit(0), 2000).unref();
  server.tryShutdown(() => setTimeout(() => process.exit(0), 50));
});

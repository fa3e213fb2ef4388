// Shared helpers of the gRPC client scripts: reading the JSON job from stdin,
// loading .proto files with @grpc/proto-loader, and decoding
// grpc-status-details-bin (a google.rpc.Status) with the fixture protos.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const grpc = require('@grpc/grpc-js');
export const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const here = path.dirname(fileURLToPath(import.meta.url));
// The protos the clients themselves need (google.rpc.Status and details,
// grpc.health.v1), kept outside any proto_path doppel is given.
export const CLIENT_PROTO_DIR = path.resolve(here, '..', '..', 'integration',
  'fixtures', 'grpc', 'client');
export const FIXTURE_PROTO_DIR = path.resolve(here, '..', '..', 'integration',
  'fixtures', 'grpc', 'protos');
// Debian's well-known types (google/protobuf/*.proto).
export const SYSTEM_INCLUDE = '/usr/include';

// Options that give messages close to the proto3 JSON mapping: lowerCamelCase
// names, enums as names, 64-bit integers as strings.
export const LOADER_OPTIONS = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
};

export async function readJob() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const text = Buffer.concat(chunks).toString('utf8');
  return JSON.parse(text);
}

export function print(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

export function loadProtos(files, includeDirs) {
  return protoLoader.loadSync(files, {
    ...LOADER_OPTIONS,
    includeDirs: [...(includeDirs || []), SYSTEM_INCLUDE],
  });
}

// The service constructor for a full name such as "shop.order.v1.OrderService".
export function serviceClient(pkgDef, service) {
  const def = pkgDef[service];
  if (!def) throw new Error('service not in the loaded protos: ' + service);
  return grpc.makeGenericClientConstructor(def, service, {});
}

export function codeName(code) {
  for (const [k, v] of Object.entries(grpc.status)) if (v === code) return k;
  return String(code);
}

// Metadata as a plain object: key -> value, or a list when repeated; -bin
// values as base64.
export function metadataObject(md) {
  if (!md) return {};
  const out = {};
  for (const [k, vals] of Object.entries(md.getMap ? md.toJSON() : md)) {
    const list = (Array.isArray(vals) ? vals : [vals]).map(
      (v) => (Buffer.isBuffer(v) ? v.toString('base64') : String(v)));
    out[k] = list.length === 1 ? list[0] : list;
  }
  return out;
}

export function buildMetadata(obj) {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(obj || {})) {
    for (const one of Array.isArray(v) ? v : [v]) {
      if (k.endsWith('-bin')) md.add(k, Buffer.from(one, 'base64'));
      else md.add(k, String(one));
    }
  }
  return md;
}

let statusRoot = null;
function statusTypes() {
  if (!statusRoot) {
    statusRoot = new protobuf.Root();
    statusRoot.resolvePath = (origin, target) => {
      for (const dir of [CLIENT_PROTO_DIR, SYSTEM_INCLUDE]) {
        const p = path.join(dir, target);
        try {
          require('node:fs').accessSync(p);
          return p;
        } catch (e) { /* next */ }
      }
      return protobuf.util.path.resolve(origin, target);
    };
    statusRoot.loadSync(['google/rpc/status.proto',
      'google/rpc/error_details.proto'], { keepCase: false });
  }
  return statusRoot;
}

const CONV = { longs: String, enums: String, defaults: false, json: true };

// Decodes grpc-status-details-bin into {code, message, details: [{type,
// kind, value}]} where kind is the mock format's name ("badRequest").
export function decodeStatusDetails(bin) {
  const root = statusTypes();
  const Status = root.lookupType('google.rpc.Status');
  const st = Status.decode(bin);
  const details = (st.details || []).map((any) => {
    const url = any.typeUrl || any.type_url || '';
    const name = url.slice(url.lastIndexOf('/') + 1);
    const short = name.slice(name.lastIndexOf('.') + 1);
    const kind = short.charAt(0).toLowerCase() + short.slice(1);
    let value = null;
    let error;
    try {
      const T = root.lookupType(name);
      value = T.toObject(T.decode(any.value), CONV);
    } catch (e) {
      error = String(e.message || e);
    }
    const d = { typeUrl: url, type: name, kind, value };
    if (error) d.error = error;
    return d;
  });
  return { code: st.code || 0, message: st.message || '', details };
}

// Reference gRPC server written with @grpc/grpc-js: the benchmark's
// baseline and the server the test clients are validated against.
//
//   node bench/grpc/reference_server.mjs [--port 0] [--host 127.0.0.1]
//
// Prints "listening on HOST:PORT" once bound. Serves, from
// tests/integration/fixtures/grpc/protos, shop.order.v1.OrderService with
// fixed behaviour (below), grpc.health.v1.Health (Check and Watch, SERVING)
// and server reflection (v1 and v1alpha, @grpc/reflection).
//
// GetOrder (unary): orderId "missing" -> NOT_FOUND "order not found" with
//   a BadRequest and an ErrorInfo in grpc-status-details-bin; "slow" ->
//   the answer after 1500 ms; anything else -> ORDER (below) with that
//   orderId. Initial metadata x-served-by: reference; trailer x-trace: t1;
//   request metadata x-tenant is echoed in labels.tenant.
// ListOrders (server stream): pageSize messages (default 3), 100 ms apart,
//   orderId "o-1".."o-N"; customerId "fail" -> after one message,
//   FAILED_PRECONDITION "customer blocked".
// UploadItems (client stream): {orderId of the first, itemCount, total:
//   sum of quantity * price.units}.
// Chat (bidirectional): each message answered with {sessionId, text:
//   "echo: " + text, seq}; text "bye" ends the call with OK.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');
// The test clients' node_modules (tests/node, installed by scripts/dev.sh).
const require = createRequire(path.join(ROOT, 'tests', 'node', 'package.json'));
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const { ReflectionService } = require('@grpc/reflection');

const PROTOS = path.join(ROOT, 'tests', 'integration', 'fixtures', 'grpc', 'protos');
const CLIENT_PROTOS = path.join(ROOT, 'tests', 'integration', 'fixtures', 'grpc', 'client');

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : dflt;
}

const opts = { keepCase: false, longs: String, enums: String, defaults: false, oneofs: true };
const files = ['shop/order/v1/order.proto', 'shop/billing/v1/billing.proto'];
const pkg = protoLoader.loadSync(files, { ...opts, includeDirs: [PROTOS, '/usr/include'] });
const health = protoLoader.loadSync('grpc/health/v1/health.proto',
  { ...opts, includeDirs: [CLIENT_PROTOS] });

// google.rpc.Status with details packed as Any, for grpc-status-details-bin.
const rpcRoot = new protobuf.Root();
rpcRoot.resolvePath = (origin, target) => {
  for (const dir of [CLIENT_PROTOS, '/usr/include']) {
    const p = path.join(dir, target);
    try { require('node:fs').accessSync(p); return p; } catch (e) { /* next */ }
  }
  return target;
};
rpcRoot.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);

function statusDetailsBin(code, message, details) {
  const Status = rpcRoot.lookupType('google.rpc.Status');
  const packed = details.map(([type, value]) => {
    const T = rpcRoot.lookupType(type);
    return { type_url: 'type.googleapis.com/' + type, value: T.encode(T.fromObject(value)).finish() };
  });
  return Buffer.from(Status.encode(Status.fromObject({ code, message, details: packed })).finish());
}

export const ORDER = {
  customerId: 'c-1',
  status: 'ORDER_STATUS_OPEN',
  items: [{ sku: 'sku-1', quantity: 2, price: { currencyCode: 'EUR', units: '5', nanos: 250000000 } }],
  labels: { channel: 'web' },
  total: 10.5,
  createdAt: { seconds: '1700000000' },
  pickupPoint: 'PP-7',
  notes: [{ author: 'ann', text: 'ring twice' }],
};

function initial() {
  const md = new grpc.Metadata();
  md.set('x-served-by', 'reference');
  return md;
}

function trailers() {
  const md = new grpc.Metadata();
  md.set('x-trace', 't1');
  return md;
}

const orderService = {
  GetOrder(call, cb) {
    call.sendMetadata(initial());
    const id = call.request.orderId || '';
    if (id === 'missing') {
      const md = trailers();
      md.set('grpc-status-details-bin', statusDetailsBin(grpc.status.NOT_FOUND, 'order not found', [
        ['google.rpc.BadRequest', { fieldViolations: [{ field: 'order_id', description: 'no such order' }] }],
        ['google.rpc.ErrorInfo', { reason: 'ORDER_MISSING', domain: 'shop.example', metadata: { id } }],
      ]));
      cb({ code: grpc.status.NOT_FOUND, details: 'order not found', metadata: md });
      return;
    }
    const labels = { ...ORDER.labels };
    const tenant = call.metadata.get('x-tenant');
    if (tenant.length) labels.tenant = String(tenant[0]);
    const answer = () => cb(null, { ...ORDER, orderId: id, labels }, trailers());
    if (id === 'slow') setTimeout(answer, 1500);
    else answer();
  },

  ListOrders(call) {
    call.sendMetadata(initial());
    const n = call.request.pageSize || 3;
    let i = 0;
    let timer = null;
    call.on('cancelled', () => clearTimeout(timer));
    const next = () => {
      if (call.cancelled) return;
      if (i >= n) { call.end(trailers()); return; }
      i += 1;
      call.write({ ...ORDER, orderId: 'o-' + i, customerId: call.request.customerId || '' });
      if (call.request.customerId === 'fail') {
        call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: 'customer blocked' });
        return;
      }
      timer = setTimeout(next, 100);
    };
    next();
  },

  UploadItems(call, cb) {
    let first = null;
    let count = 0;
    let total = 0;
    call.on('data', (m) => {
      if (first === null) first = m.orderId || '';
      count += 1;
      const it = m.item || {};
      total += (it.quantity || 0) * Number((it.price && it.price.units) || 0);
    });
    call.on('end', () => cb(null, { orderId: first || '', itemCount: count, total }, trailers()));
  },

  Chat(call) {
    call.on('data', (m) => {
      if (m.text === 'bye') { call.end(trailers()); return; }
      call.write({ sessionId: m.sessionId || '', text: 'echo: ' + (m.text || ''), seq: m.seq || 0 });
    });
    call.on('end', () => call.end(trailers()));
  },
};

const billingService = {
  Charge(call, cb) {
    const order = call.request.order || {};
    cb(null, { invoiceId: 'inv-' + (order.orderId || ''), amount: { currencyCode: 'EUR', units: '10' } });
  },
};

const healthService = {
  Check(call, cb) {
    const s = call.request.service || '';
    if (s && !(s in pkg)) {
      cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
      return;
    }
    cb(null, { status: 'SERVING' });
  },
  Watch(call) {
    const s = call.request.service || '';
    call.write({ status: s && !(s in pkg) ? 'SERVICE_UNKNOWN' : 'SERVING' });
    // Watch stays open until the client goes away: no further changes here.
  },
};

const server = new grpc.Server({ 'grpc.max_concurrent_streams': 100 });
server.addService(pkg['shop.order.v1.OrderService'], orderService);
server.addService(pkg['shop.billing.v1.BillingService'], billingService);
server.addService(health['grpc.health.v1.Health'], healthService);
new ReflectionService(pkg).addToServer(server);

const host = arg('host', '127.0.0.1');
server.bindAsync(host + ':' + arg('port', '0'), grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error('bind failed: ' + err.message);
    process.exit(1);
  }
  console.log('listening on ' + host + ':' + port);
});

const stop = () => server.tryShutdown(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

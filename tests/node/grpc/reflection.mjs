// Server reflection client (grpc-js-reflection-client). Job on stdin:
//   {"address": "127.0.0.1:4770", "version": "v1" | "v1alpha",
//    "ops": [{"op": "listServices"},
//            {"op": "listMethods", "service": "shop.order.v1.OrderService"},
//            {"op": "fileContainingSymbol", "symbol": "shop.order.v1.Order"},
//            {"op": "fileByFilename", "file": "shop/order/v1/order.proto"}]}
// Prints {"results": [...]}, one per op: listServices -> {"services": [...]};
// listMethods -> {"methods": [{"name", "requestStream", "responseStream"}]};
// file ops -> {"files": [{"name", "package", "dependency", "messages",
// "services"}]} (the file itself first, then the files it pulls in), or
// {"error": "..."}.

import { createRequire } from 'node:module';
import { grpc, readJob, print } from './common.mjs';

const require = createRequire(import.meta.url);
const { GrpcReflection } = require('grpc-js-reflection-client');

// FileDescriptorProto, to read the raw answers of the server (names and
// dependency lists exactly as the server sent them).
const { FileDescriptorProto } = require('protobufjs/ext/descriptor');

function describe(bytes) {
  const f = FileDescriptorProto.decode(bytes);
  return {
    name: f.name,
    package: f.package || '',
    dependency: f.dependency || [],
    messages: (f.messageType || []).map((m) => m.name),
    services: (f.service || []).map((s) => s.name),
  };
}

// The files of the answer, then every file they import, asked for by name
// (as a client resolving a descriptor does).
async function rawFiles(client, op) {
  const first = op.op === 'fileContainingSymbol'
    ? await client.getProtoDescriptorBySymbol(op.symbol)
    : await client.getProtoDescriptorByFileName(op.file);
  const files = first.map(describe);
  const seen = new Set(files.map((f) => f.name));
  for (let i = 0; i < files.length; i++) {
    for (const dep of files[i].dependency) {
      if (seen.has(dep)) continue;
      seen.add(dep);
      for (const b of await client.getProtoDescriptorByFileName(dep)) {
        const d = describe(b);
        if (d.name === dep || !files.some((f) => f.name === d.name)) files.push(d);
      }
    }
  }
  return { count: first.length, files };
}

async function main() {
  const job = await readJob();
  const client = new GrpcReflection(job.address,
    grpc.credentials.createInsecure(), {}, job.version || 'v1alpha');
  const results = [];
  for (const op of job.ops || [{ op: 'listServices' }]) {
    try {
      if (op.op === 'listServices') {
        results.push({ services: await client.listServices() });
      } else if (op.op === 'listMethods') {
        const methods = await client.listMethods(op.service);
        results.push({
          methods: methods.map((m) => ({
            name: m.name,
            requestStream: !!m.definition.requestStream,
            responseStream: !!m.definition.responseStream,
          })),
        });
      } else {
        results.push(await rawFiles(client, op));
      }
    } catch (e) {
      results.push({ error: String(e.message || e) });
    }
  }
  print({ results });
  process.exit(0);
}

main().catch((e) => {
  print({ error: String(e.stack || e) });
  process.exit(1);
});

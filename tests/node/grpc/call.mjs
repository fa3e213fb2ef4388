// Generic gRPC client driver (grpc-js). Reads a JSON job, a list of jobs
// run one after the other, or {"parallel": [jobs]} run all at once, on
// stdin and prints one JSON result per job (a list for a list):
//
//   {"address": "127.0.0.1:4770",
//    "protoFiles": ["shop/order/v1/order.proto"], "includeDirs": ["..."],
//    "service": "shop.order.v1.OrderService", "method": "GetOrder",
//    "kind": "unary" | "server-stream" | "client-stream" | "bidirectional"
//            (optional: taken from the .proto),
//    "request": {...}                      (unary, server-stream)
//    "messages": [{...}, {"message": {...}, "delayMs": 50}, ...]
//                                          (client-stream, bidirectional;
//                                           delayMs: wait before sending)
//    "halfClose": true,                    (streams: end the sending side
//                                           after the messages; default)
//    "metadata": {"x-tenant": "acme", "k-bin": "<base64>"},
//    "path": "/pkg.Svc/Other"              (unary: send the method's message
//                                           types to this :path instead),
//    "deadlineMs": 500, "cancelAfterMs": 200, "timeoutMs": 20000}
//
// Result: {"messages": [...], "status": {"code", "codeName", "details",
// "metadata"}, "headers": {...}, "trailers": {...}, "errorDetails":
// {"code", "message", "details": [{"type", "kind", "value"}]} | null,
// "cancelled": bool, "timings": {...}} (timings are informative only).

import {
  grpc, readJob, print, loadProtos, serviceClient, codeName, metadataObject,
  buildMetadata, decodeStatusDetails, FIXTURE_PROTO_DIR,
} from './common.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const clients = new Map();

function kindOf(def) {
  if (def.requestStream && def.responseStream) return 'bidirectional';
  if (def.requestStream) return 'client-stream';
  if (def.responseStream) return 'server-stream';
  return 'unary';
}

function messageOf(m) {
  if (m && typeof m === 'object' && 'message' in m &&
      Object.keys(m).every((k) => k === 'message' || k === 'delayMs')) {
    return { message: m.message, delayMs: m.delayMs || 0 };
  }
  return { message: m, delayMs: 0 };
}

async function runJob(job) {
  const t0 = Date.now();
  const includeDirs = job.includeDirs || [FIXTURE_PROTO_DIR];
  const pkg = loadProtos(job.protoFiles, includeDirs);
  const Ctor = serviceClient(pkg, job.service);
  const def = Ctor.service[job.method];
  if (!def) throw new Error('method not in the service: ' + job.method);
  const kind = job.kind || kindOf(def);
  const key = job.address + '|' + job.service + '|' + job.protoFiles.join(',');
  let client = clients.get(key);
  if (!client) {
    client = new Ctor(job.address, grpc.credentials.createInsecure(),
      job.channelOptions || {});
    clients.set(key, client);
  }
  const md = buildMetadata(job.metadata);
  const opts = {};
  if (job.deadlineMs != null) opts.deadline = new Date(Date.now() + job.deadlineMs);

  const out = {
    kind, messages: [], headers: null, trailers: null, status: null,
    errorDetails: null, cancelled: false, timings: {},
  };

  return await new Promise((resolve) => {
    let call;
    let finished = false;
    const guard = setTimeout(() => {
      if (finished) return;
      out.error = 'client timeout after ' + (job.timeoutMs || 20000) + ' ms';
      try { call.cancel(); } catch (e) { /* ignore */ }
    }, job.timeoutMs || 20000);

    const finish = (status) => {
      if (finished) return;
      finished = true;
      clearTimeout(guard);
      const trailers = status.metadata;
      out.status = {
        code: status.code, codeName: codeName(status.code),
        details: status.details, metadata: metadataObject(trailers),
      };
      out.trailers = metadataObject(trailers);
      const bin = trailers && trailers.get('grpc-status-details-bin');
      if (bin && bin.length) {
        try {
          out.errorDetails = decodeStatusDetails(bin[0]);
        } catch (e) {
          out.errorDetails = { error: 'undecodable: ' + (e.message || e) };
        }
      }
      out.timings.endMs = Date.now() - t0;
      resolve(out);
    };

    const onData = (msg) => {
      if (out.timings.firstMessageMs == null) out.timings.firstMessageMs = Date.now() - t0;
      out.messages.push(msg);
    };

    if (kind === 'unary' && job.path) {
      // The method's message types sent to another :path (a method or
      // service the server does not have).
      call = client.makeUnaryRequest(job.path, def.requestSerialize,
        def.responseDeserialize, job.request || {}, md, opts, (err, resp) => {
          if (!err && resp !== undefined) onData(resp);
        });
    } else if (kind === 'unary') {
      call = client[job.method](job.request || {}, md, opts, (err, resp) => {
        if (!err && resp !== undefined) onData(resp);
      });
    } else if (kind === 'server-stream') {
      call = client[job.method](job.request || {}, md, opts);
    } else if (kind === 'client-stream') {
      call = client[job.method](md, opts, (err, resp) => {
        if (!err && resp !== undefined) onData(resp);
      });
    } else {
      call = client[job.method](md, opts);
    }
    call.on('metadata', (h) => { out.headers = metadataObject(h); });
    call.on('status', finish);
    call.on('error', () => { /* the status event carries it */ });
    if (kind === 'server-stream' || kind === 'bidirectional') call.on('data', onData);

    if (job.cancelAfterMs != null) {
      setTimeout(() => {
        if (!finished) {
          out.cancelled = true;
          out.timings.cancelMs = Date.now() - t0;
          call.cancel();
        }
      }, job.cancelAfterMs);
    }

    if (kind === 'client-stream' || kind === 'bidirectional') {
      (async () => {
        for (const raw of job.messages || []) {
          const { message, delayMs } = messageOf(raw);
          if (delayMs) await sleep(delayMs);
          if (finished) return;
          call.write(message);
        }
        if (job.halfClose !== false && !finished) call.end();
      })();
    }
  });
}

async function main() {
  const job = await readJob();
  if (job && Array.isArray(job.parallel)) {
    // all at once, on one channel per address: streams multiplexed on one
    // HTTP/2 connection
    const results = await Promise.all(job.parallel.map((j) => runJob(j).catch(
      (e) => ({ error: String(e.stack || e) }))));
    for (const c of clients.values()) c.close();
    print(results);
    return;
  }
  const jobs = Array.isArray(job) ? job : [job];
  const results = [];
  for (const j of jobs) {
    try {
      results.push(await runJob(j));
    } catch (e) {
      results.push({ error: String(e.stack || e) });
    }
  }
  for (const c of clients.values()) c.close();
  print(Array.isArray(job) ? results : results[0]);
}

main().catch((e) => {
  print({ error: String(e.stack || e) });
  process.exitCode = 1;
});

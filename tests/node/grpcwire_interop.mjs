// The official Node gRPC client (@grpc/grpc-js) against the gRPC transport
// core (tests/unit/test_grpcwire_interop.c serves it over TCP with an echo
// layer). Raw Buffer (de)serializers: the core carries bytes, not protobuf.
//   node grpcwire_interop.mjs PORT
// Prints "ok NAME" or "FAIL NAME: why" per scenario; exits 1 on a failure.
import grpc from '@grpc/grpc-js';

const port = process.argv[2];
const id = (b) => b;
const method = (name, requestStream, responseStream) => ({
  path: `/echo.Echo/${name}`, requestStream, responseStream,
  requestSerialize: id, requestDeserialize: id,
  responseSerialize: id, responseDeserialize: id,
});
const Client = grpc.makeGenericClientConstructor({
  Unary: method('Unary', false, false),
  Fail: method('Fail', false, false),
  Stream: method('Stream', false, true),
  Collect: method('Collect', true, false),
  Bidi: method('Bidi', true, true),
  Hold: method('Hold', false, false),
  Nope: method('Nope', false, false),
}, 'Echo');
const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());

// A unary or client-streaming call: resolves once the status is in.
function finished(start) {
  return new Promise((resolve) => {
    const out = {};
    const call = start((err, resp) => { out.err = err; out.resp = resp; });
    call.on('metadata', (m) => { out.headers = m; });
    call.on('status', (s) => { out.status = s; setImmediate(() => resolve(out)); });
    out.call = call;
  });
}

function streamed(call) {
  return new Promise((resolve) => {
    const out = { data: [] };
    call.on('data', (d) => out.data.push(d.toString()));
    call.on('error', (e) => { out.err = e; });
    call.on('status', (s) => { out.status = s; setImmediate(() => resolve(out)); });
  });
}

function check(cond, why) {
  if (!cond) throw new Error(why);
}

const scenarios = {
  async unary() {
    const md = new grpc.Metadata();
    md.set('x-tenant', 'acme');
    md.set('x-bin-bin', Buffer.from([0, 1, 2, 255]));
    const r = await finished((cb) => client.Unary(Buffer.from('hello'), md, cb));
    check(!r.err, `error ${r.err && r.err.message}`);
    check(r.resp.toString() === 'hello', `resp ${r.resp}`);
    check(r.headers.get('x-tenant-echo')[0] === 'acme', 'header x-tenant-echo');
    check(r.status.metadata.get('x-trace')[0] === 't1', 'trailer x-trace');
    const bin = r.status.metadata.get('x-bin-bin')[0];
    check(Buffer.isBuffer(bin) && bin.equals(Buffer.from([0, 1, 2, 255])),
      `trailer x-bin-bin ${bin && bin.toString('hex')}`);
  },
  async fail() {
    const r = await finished((cb) => client.Fail(Buffer.from('x'), cb));
    check(r.err && r.err.code === grpc.status.NOT_FOUND, `code ${r.err && r.err.code}`);
    check(r.err.details === 'not found: \u00fc 100%', `details ${JSON.stringify(r.err.details)}`);
    const det = r.status.metadata.get('grpc-status-details-bin')[0];
    check(Buffer.isBuffer(det) && det.equals(Buffer.from([8, 5, 18, 1, 120])),
      `details-bin ${det && det.toString('hex')}`);
  },
  async stream() {
    const r = await streamed(client.Stream(Buffer.from('q')));
    check(r.status.code === grpc.status.OK, `status ${r.status.code}`);
    check(r.data.join(',') === 'm1,m2,m3', `data ${r.data}`);
  },
  async collect() {
    const r = await finished((cb) => {
      const call = client.Collect(cb);
      call.write(Buffer.from('a'));
      call.write(Buffer.from('bb'));
      call.write(Buffer.alloc(0));
      call.end();
      return call;
    });
    check(!r.err, `error ${r.err && r.err.message}`);
    check(r.resp.toString() === '3:abb', `resp ${r.resp}`);
  },
  async bidi() {
    const call = client.Bidi();
    const got = [];
    const done = streamed(call);
    const next = () => new Promise((res) => call.once('data', (d) => res(d.toString())));
    call.write(Buffer.from('x'));
    got.push(await next());
    call.write(Buffer.from('yy'));
    got.push(await next());
    call.end();
    const r = await done;
    check(got.join(',') === 'x,yy', `echo ${got}`);
    check(r.status.code === grpc.status.OK, `status ${r.status.code}`);
  },
  async deadline() {
    const r = await finished((cb) => client.Hold(Buffer.from('x'), new grpc.Metadata(),
      { deadline: Date.now() + 300 }, cb));
    check(r.err && r.err.code === grpc.status.DEADLINE_EXCEEDED, `code ${r.err && r.err.code}`);
  },
  async unimplemented() {
    const r = await finished((cb) => client.Nope(Buffer.from('x'), cb));
    check(r.err && r.err.code === grpc.status.UNIMPLEMENTED, `code ${r.err && r.err.code}`);
  },
  async big() {
    const body = Buffer.alloc(1 << 20);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + 3) & 255;
    const r = await finished((cb) => client.Unary(body, cb));
    check(!r.err, `error ${r.err && r.err.message}`);
    check(r.resp.equals(body), `resp of ${r.resp.length} bytes differs`);
  },
  async concurrent() {
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      finished((cb) => client.Unary(Buffer.from(`n${i}`), cb))));
    all.forEach((r, i) => check(!r.err && r.resp.toString() === `n${i}`, `call ${i}`));
  },
};

let failed = 0;
for (const [name, fn] of Object.entries(scenarios)) {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
  }
}
client.close();
process.exit(failed ? 1 : 0);

// grpc.health.v1 client (grpc-js). Job on stdin:
//   {"address": "127.0.0.1:4770", "service": "",   ("" = the whole server)
//    "op": "check" | "watch", "updates": 1,        (watch: how many to read)
//    "deadlineMs": 3000, "progress": false}  (watch: each update also on
//                                             stderr as "update STATUS")
// Prints {"statuses": ["SERVING", ...], "status": {"code", "codeName",
// "details"}} (check: one entry in statuses when the call succeeded).

import path from 'node:path';
import {
  grpc, readJob, print, loadProtos, serviceClient, codeName, CLIENT_PROTO_DIR,
} from './common.mjs';

async function main() {
  const job = await readJob();
  const pkg = loadProtos([path.join('grpc', 'health', 'v1', 'health.proto')],
    [CLIENT_PROTO_DIR]);
  const Health = serviceClient(pkg, 'grpc.health.v1.Health');
  const client = new Health(job.address, grpc.credentials.createInsecure());
  const deadline = new Date(Date.now() + (job.deadlineMs || 5000));
  const out = { statuses: [], status: null };
  const req = { service: job.service || '' };
  await new Promise((resolve) => {
    if ((job.op || 'check') === 'check') {
      client.Check(req, { deadline }, (err, resp) => {
        if (err) {
          out.status = { code: err.code, codeName: codeName(err.code), details: err.details };
        } else {
          out.statuses.push(resp.status);
          out.status = { code: 0, codeName: 'OK', details: '' };
        }
        resolve();
      });
      return;
    }
    const want = job.updates || 1;
    const call = client.Watch(req, { deadline });
    let done = false;
    call.on('data', (resp) => {
      out.statuses.push(resp.status);
      // progress for a caller that acts between updates (a line per update)
      if (job.progress) process.stderr.write('update ' + resp.status + '\n');
      if (out.statuses.length >= want && !done) {
        done = true;
        out.status = { code: 0, codeName: 'OK', details: 'read ' + want + ' update(s)' };
        call.cancel();
        resolve();
      }
    });
    call.on('error', () => {});
    call.on('status', (st) => {
      if (done) return;
      done = true;
      out.status = { code: st.code, codeName: codeName(st.code), details: st.details };
      resolve();
    });
  });
  client.close();
  print(out);
}

main().catch((e) => {
  print({ error: String(e.stack || e) });
  process.exitCode = 1;
});

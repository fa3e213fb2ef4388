// The npm `soap` client against doppel (tests/integration/test_soap_client.py):
// it builds its clients from the WSDL doppel serves at <path>?wsdl, calls
// the operations through the SOAP 1.1 port and (forceSoap12Headers) the
// SOAP 1.2 port, and prints what it got as one JSON object on stdout:
//   {describe, soap11: {Op: result | {fault}}, soap12: {...},
//    endpoints: {port: location}}
// A call that fails is recorded as {"fault": {status, code, string, body}}
// taken from the client's error (err.root.Envelope.Body.Fault), so the
// Python side checks results and faults alike.
//
// With "rpc" as second argument it calls the rpc/literal rate service
// (fixtures/soap/rates-rpc.wsdl) instead and prints {result | fault}.
//
// usage: node soap_client.mjs BASE_URL [rpc]   (e.g. http://127.0.0.1:5770)
import soap from 'soap';

const base = process.argv[2];
if (!base) {
  console.error('usage: node soap_client.mjs BASE_URL [rpc]');
  process.exit(2);
}

// The calls made on both ports, with the arguments the WSDL's input types
// describe.
const CALLS = [
  ['GetAccount', { accountId: 'acc-1' }],
  ['ListAccounts', { status: 'ACTIVE', limit: 5 }],
  ['Deposit', { accountId: 'acc-1', amount: { attributes: { currency: 'EUR' }, $value: '10.50' } }],
];

function faultOf(err) {
  const body = err && err.root && err.root.Envelope && err.root.Envelope.Body;
  const f = body && body.Fault;
  if (!f) {
    return { error: String(err && err.message ? err.message : err) };
  }
  // 1.1: faultcode/faultstring; 1.2: Code.Value / Reason.Text
  const code = f.faultcode || (f.Code && f.Code.Value);
  let text = f.faultstring;
  if (text === undefined && f.Reason) {
    text = f.Reason.Text;
    if (text && typeof text === 'object' && '$value' in text) text = text.$value;
  }
  return {
    status: err.response ? err.response.status : null,
    code,
    string: text,
    detail: f.detail || f.Detail || null,
  };
}

function call(port, name, args) {
  return new Promise((resolve) => {
    port[name](args, (err, result) => {
      if (err) resolve({ fault: faultOf(err) });
      else resolve(result);
    });
  });
}

async function run(path, soap12) {
  const client = await soap.createClientAsync(`${base}${path}?wsdl`, {
    forceSoap12Headers: soap12,
  });
  const svc = client.AccountService;
  const port = soap12 ? svc.AccountPort12 : svc.AccountPort;
  const out = {};
  for (const [name, args] of CALLS) {
    out[name] = await call(port, name, args);
  }
  const endpoints = {};
  const services = client.wsdl.definitions.services;
  for (const p of Object.keys(services.AccountService.ports)) {
    endpoints[p] = services.AccountService.ports[p].location;
  }
  return { client, out, endpoints };
}

if (process.argv[3] === 'rpc') {
  const client = await soap.createClientAsync(`${base}/ws/rates?wsdl`);
  const port = client.RateService.RatePort;
  const result = await call(port, 'GetRate', { from: 'EUR', to: 'USD' });
  process.stdout.write(JSON.stringify({
    endpoint: client.wsdl.definitions.services.RateService.ports.RatePort.location,
    result,
  }) + '\n');
  process.exit(0);
}

const r11 = await run('/ws/account', false);
const r12 = await run('/ws/account12', true);
process.stdout.write(JSON.stringify({
  describe: r11.client.describe(),
  endpoints: r11.endpoints,
  soap11: r11.out,
  soap12: r12.out,
}) + '\n');

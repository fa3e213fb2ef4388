// An AI agent's view of doppel's MCP control server, driven with the
// official TypeScript SDK client (Client + StreamableHTTPClientTransport)
// and a token in the X-API-Key header. Run by
// tests/integration/test_mcp_agent.py, which asserts on what this prints.
//
//   node mcp_agent.mjs agent   the agent-style scenario (prints a report)
//   node mcp_agent.mjs calls   runs the JSON array [{tool, args}, ...] read
//                              from stdin in one session and prints an
//                              array of results ({result} or {rpcError})
//   node mcp_agent.mjs tools   prints the whole tools/list (all pages)
//
// Environment: MCP_URL (the /mcp endpoint), MCP_TOKEN, BASE_URL (the
// server's mock port, for plain HTTP calls), MCP_NS_HEADER (optional
// X-Doppel-Namespace), AGENT_NS (namespace of the agent scenario).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const { MCP_URL, MCP_TOKEN, BASE_URL, MCP_NS_HEADER } = process.env;
const mode = process.argv[2];

// No test waits forever: the Python side has its own timeout too.
setTimeout(() => {
  console.error("mcp_agent.mjs: timed out");
  process.exit(3);
}, 60000).unref();

async function connect() {
  const headers = { "X-API-Key": MCP_TOKEN };
  if (MCP_NS_HEADER) headers["X-Doppel-Namespace"] = MCP_NS_HEADER;
  const transport = new StreamableHTTPClientTransport(new URL(MCP_URL), {
    requestInit: { headers },
  });
  const client = new Client({ name: "doppel-test-agent", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

async function allTools(client) {
  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  return tools;
}

async function callTool(client, name, args) {
  try {
    return { result: await client.callTool({ name, arguments: args }) };
  } catch (e) {
    return { rpcError: { code: e.code, message: String(e.message) } };
  }
}

async function httpGet(path) {
  const r = await fetch(BASE_URL + path);
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: r.status, text, json, mockId: r.headers.get("x-doppel-mock-id") };
}

async function agent() {
  const ns = process.env.AGENT_NS;
  const client = await connect();
  const report = {};
  report.tools = (await allTools(client)).map((t) => t.name);

  // An agent stubs the endpoint its app needs...
  const created = await callTool(client, "create_mock", {
    namespace: ns,
    mock: {
      http: { route: "/agent/orders/:id", httpMethod: "GET" },
      response: { statusCode: 200, payload: { id: "$.pathParam.id", state: "shipped" } },
    },
  });
  report.created = created;
  // ...calls it over plain HTTP...
  report.hit = await httpGet(`/stubs/${ns}/agent/orders/42`);
  // ...and sees the call in the journal.
  report.requests = await callTool(client, "get_requests", { namespace: ns, limit: 20 });

  // A call nothing answers, found again in the gap list...
  report.miss = await httpGet(`/stubs/${ns}/agent/invoices/7`);
  report.unmatched = await callTool(client, "get_unmatched", { namespace: ns });
  // ...and the gap closed.
  report.closed = await callTool(client, "create_mock", {
    namespace: ns,
    mock: {
      http: { route: "/agent/invoices/:id", httpMethod: "GET" },
      response: { statusCode: 200, payload: { invoice: "$.pathParam.id" } },
    },
  });
  report.hitAfter = await httpGet(`/stubs/${ns}/agent/invoices/7`);
  await client.close();
  return report;
}

async function calls() {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const list = JSON.parse(input);
  const client = await connect();
  const out = [];
  for (const c of list) out.push(await callTool(client, c.tool, c.args));
  await client.close();
  return out;
}

async function tools() {
  const client = await connect();
  const t = await allTools(client);
  await client.close();
  return t;
}

const modes = { agent, calls, tools };
if (!modes[mode]) {
  console.error("usage: node mcp_agent.mjs agent|calls|tools");
  process.exit(2);
}
try {
  const out = await modes[mode]();
  process.stdout.write(JSON.stringify(out) + "\n");
  process.exit(0);
} catch (e) {
  console.error("mcp_agent.mjs:", e && e.stack ? e.stack : e);
  process.exit(1);
}

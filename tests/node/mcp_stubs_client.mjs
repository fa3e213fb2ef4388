// An agent under test talking to doppel's mock MCP servers with the
// official TypeScript SDK client over Streamable HTTP. Run by
// tests/integration/test_mcp_stubs.py, which asserts on what this prints.
//
// stdin: {"servers": {"<name>": "<url>", ...},
//         "steps": [{"server": "<name>", "op": "<op>", "params": {...}}]}
// where op is listTools, listResources, listPrompts (every page),
// callTool, readResource, getPrompt or ping. Prints one JSON line:
// {"servers": {"<name>": {"info", "capabilities", "sessionId"}},
//  "results": [{"result": ...} | {"error": {"code", "message"}}, ...]}
// Every session is ended with DELETE at the end.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

setTimeout(() => {
  console.error("mcp_stubs_client.mjs: timed out");
  process.exit(3);
}, 60000).unref();

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function allPages(fn, key) {
  const items = [];
  let cursor;
  do {
    const page = await fn(cursor ? { cursor } : {});
    items.push(...page[key]);
    cursor = page.nextCursor;
  } while (cursor);
  return { [key]: items };
}

async function step(client, s) {
  switch (s.op) {
    case "listTools":
      return allPages((p) => client.listTools(p), "tools");
    case "listResources":
      return allPages((p) => client.listResources(p), "resources");
    case "listPrompts":
      return allPages((p) => client.listPrompts(p), "prompts");
    case "callTool":
      return client.callTool(s.params);
    case "readResource":
      return client.readResource(s.params);
    case "getPrompt":
      return client.getPrompt(s.params);
    case "ping":
      return client.ping();
    default:
      throw new Error("unknown op " + s.op);
  }
}

async function main() {
  const plan = await readStdin();
  const clients = {};
  const out = { servers: {}, results: [] };
  for (const [name, url] of Object.entries(plan.servers)) {
    const transport = new StreamableHTTPClientTransport(new URL(url));
    const client = new Client({ name: "agent-under-test", version: "1.0.0" });
    await client.connect(transport);
    clients[name] = { client, transport };
    out.servers[name] = {
      info: client.getServerVersion(),
      capabilities: client.getServerCapabilities(),
      sessionId: transport.sessionId,
    };
  }
  for (const s of plan.steps) {
    try {
      out.results.push({ result: await step(clients[s.server].client, s) });
    } catch (e) {
      out.results.push({ error: { code: e.code ?? null, message: String(e.message) } });
    }
  }
  for (const { client, transport } of Object.values(clients)) {
    await transport.terminateSession();
    await client.close();
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error("mcp_stubs_client.mjs failed:", e?.stack || e);
  process.exit(1);
});

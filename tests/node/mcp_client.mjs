// The official MCP TypeScript SDK client against doppel's control server,
// over each transport. Run by tests/integration/test_mcp_transport.py,
// which asserts on the JSON report this prints (one line on stdout).
//
//   node mcp_client.mjs streamable URL TOKEN   Streamable HTTP (the /mcp URL)
//   node mcp_client.mjs sse URL TOKEN          HTTP+SSE (the /mcp/sse URL)
//   node mcp_client.mjs stdio BIN URL TOKEN    spawns BIN mcp --stdio
//                                              --url URL --token TOKEN
//
// The token goes in the X-API-Key header (the custom header of the
// acceptance criteria). The report: server info, protocol version, every
// tool name (all pages, counted), a ping, one tool call, the error of an
// unknown tool, and for Streamable HTTP the session id and the outcome of
// ending the session (DELETE).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [mode, ...args] = process.argv.slice(2);

setTimeout(() => {
  console.error("mcp_client.mjs: timed out");
  process.exit(3);
}, 60000).unref();

function transportFor() {
  if (mode === "streamable") {
    const [url, token] = args;
    return new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { "X-API-Key": token } },
    });
  }
  if (mode === "sse") {
    const [url, token] = args;
    const headers = { "X-API-Key": token };
    return new SSEClientTransport(new URL(url), {
      requestInit: { headers },
      // The event stream's GET carries the header too.
      eventSourceInit: {
        fetch: (u, init) =>
          fetch(u, { ...init, headers: { ...(init?.headers || {}), ...headers } }),
      },
    });
  }
  if (mode === "stdio") {
    const [bin, url, token] = args;
    return new StdioClientTransport({
      command: bin,
      args: ["mcp", "--stdio", "--url", url, "--token", token],
      stderr: "inherit",
    });
  }
  throw new Error("unknown mode " + mode);
}

async function main() {
  const transport = transportFor();
  const client = new Client({ name: "doppel-transport-test", version: "1.0.0" });
  await client.connect(transport);
  const out = {
    server: client.getServerVersion(),
    capabilities: client.getServerCapabilities(),
    instructions: client.getInstructions() ? "yes" : "no",
    protocolVersion: transport.protocolVersion ?? null,
    sessionId: transport.sessionId ?? null,
  };

  const tools = [];
  let cursor;
  let pages = 0;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    tools.push(...page.tools.map((t) => t.name));
    cursor = page.nextCursor;
    pages++;
  } while (cursor && pages < 1000);
  out.tools = tools;
  out.pages = pages;

  out.ping = await client.ping();
  const call = await client.callTool({ name: "list_namespaces", arguments: {} });
  out.call = { isError: call.isError ?? false, text: call.content?.[0]?.text ?? "" };
  try {
    await client.callTool({ name: "no_such_tool", arguments: {} });
    out.unknownTool = "no error";
  } catch (e) {
    out.unknownTool = { code: e.code, message: e.message };
  }

  if (mode === "streamable") {
    await transport.terminateSession();
    out.terminated = transport.sessionId === undefined;
  }
  await client.close();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error("mcp_client.mjs failed:", e?.stack || e);
  process.exit(1);
});

// The reference of bench/websocket/run.sh: a WebSocket echo server written
// with the `ws` package (tests/node/node_modules, found through NODE_PATH),
// no compression, answering every message with the same small JSON text
// doppel's mock sends.
//   NODE_PATH=tests/node/node_modules node ws_echo.cjs PORT
const { WebSocketServer } = require("ws");

const port = Number(process.argv[2]);
const answer = '{"ok":true}';
const wss = new WebSocketServer({ port, host: "127.0.0.1", perMessageDeflate: false });
wss.on("connection", (ws) => ws.on("message", () => ws.send(answer)));
wss.on("listening", () => console.log("listening"));

// receiver.mjs is a vendor's webhook receiver in Node, as docs/webhooks.md
// tells vendors to write it: it verifies every request with the
// standardwebhooks package, `new Webhook(secret).verify(rawBody, headers)`,
// over the exact bytes received, and answers 204 when the request is
// genuine and 401 when not. node_test.go runs it against the demo's
// deliveries.
//
// It listens on 127.0.0.1, on a free port, and talks JSON lines:
//   stdout  {"event":"listening","url":"http://127.0.0.1:<port>"} once;
//           {"event":"configured","path":...} for each secret it is given;
//           {"event":"delivery","path","webhook_id","verified":true,
//            "event_type","payload" (parsed),"body" (raw),"signatures"} for
//           a genuine request, or
//           {"event":"delivery","path","webhook_id","verified":false,"error"}.
//   stdin   {"path":"/hooks/<name>","secret":"whsec_..."}: verify the
//           requests to path with secret from now on (a rotation sends
//           the new one). Secrets are never printed.
// It exits 0 when stdin closes, once the requests in flight are answered.
import http from "node:http";
import readline from "node:readline";
import { Webhook } from "standardwebhooks";

const emit = (o) => process.stdout.write(JSON.stringify(o) + "\n");

// hooks maps a path to the verifier of its endpoint's secret.
const hooks = new Map();

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    if (size > 1 << 20) {
      res.writeHead(413).end("body too large");
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on("end", () => {
    const path = new URL(req.url, "http://receiver").pathname;
    const raw = Buffer.concat(chunks); // the raw body: verify these bytes, never a re-serialised copy
    const id = req.headers["webhook-id"] ?? null;
    const wh = hooks.get(path);
    if (req.method !== "POST" || !wh) {
      emit({ event: "delivery", path, webhook_id: id, verified: false, error: `no endpoint configured at ${req.method} ${path}` });
      res.writeHead(404, { "Content-Type": "text/plain" }).end("no such hook");
      return;
    }
    let event;
    try {
      event = wh.verify(raw, req.headers); // throws WebhookVerificationError; returns the parsed JSON
    } catch (err) {
      emit({ event: "delivery", path, webhook_id: id, verified: false, error: `${err.name}: ${err.message}` });
      res.writeHead(401, { "Content-Type": "text/plain" }).end(`invalid webhook: ${err.message}`);
      return;
    }
    const signatures = String(req.headers["webhook-signature"] ?? "").split(" ").filter(Boolean).length;
    emit({ event: "delivery", path, webhook_id: id, verified: true, event_type: event?.type ?? null, payload: event, body: raw.toString("utf8"), signatures });
    res.writeHead(204).end();
  });
});

server.listen(0, "127.0.0.1", () => {
  const { address, port } = server.address();
  emit({ event: "listening", url: `http://${address}:${port}` });
});

const input = readline.createInterface({ input: process.stdin });
input.on("line", (line) => {
  if (!line.trim()) return;
  let cfg;
  try {
    cfg = JSON.parse(line);
    hooks.set(cfg.path, new Webhook(cfg.secret));
  } catch (err) {
    emit({ event: "error", error: `bad configuration line: ${err.message}` });
    return;
  }
  emit({ event: "configured", path: cfg.path });
});
input.on("close", () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});

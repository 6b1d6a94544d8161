// realtime.mjs drives the official Supabase Realtime client,
// @supabase/realtime-js, against the demo's realtime hub, the way a
// supplier's dashboard built on supabase-js would, and prints what it saw
// as JSON lines on stdout, one per step ({"step": ...}). node_test.go runs
// it once per protocol version and asserts each step; the script itself
// only fails (exit 1, {"step":"error"}) when a step cannot go on.
//
// Environment (all required):
//   HUB_URL         ws://host:port/realtime/v1 (realtime-js adds /websocket)
//   VSN             1.0.0 (JSON objects) or 2.0.0 (JSON arrays, binary broadcasts)
//   API_URL         the demo's base URL, for POST /api/events
//   ADMIN_TOKEN     the demo's admin token (bearer of /api)
//   SUPPLIER        the supplier whose topic supplier:<id> the client joins
//   OTHER_SUPPLIER  another supplier, whose topic must be refused
//   TOKEN           a dashboard token of SUPPLIER
//   NEW_TOKEN       another valid token of SUPPLIER (the refresh)
//   INVALID_TOKEN   a token signed with the wrong secret
//   EXPIRED_TOKEN   a token of SUPPLIER that has expired
//   TIMEOUT_MS      overall deadline (default 30000)
//
// Nothing here sleeps: every step waits for the event it needs (a
// subscribe status, a broadcast, a system message, a heartbeat reply), and
// one overall deadline ends a script that waits for something that never
// comes, saying what it was waiting for.
import { RealtimeClient } from "@supabase/realtime-js";
import WebSocket from "ws";

const emit = (o) => process.stdout.write(JSON.stringify(o) + "\n");

function fail(message) {
  emit({ step: "error", waiting: waitingFor, error: message });
  process.exit(1);
}

function env(name) {
  const v = process.env[name];
  if (!v) fail(`environment variable ${name} is required`);
  return v;
}

const HUB_URL = env("HUB_URL");
const VSN = env("VSN");
const API_URL = env("API_URL");
const ADMIN_TOKEN = env("ADMIN_TOKEN");
const SUPPLIER = env("SUPPLIER");
const OTHER_SUPPLIER = env("OTHER_SUPPLIER");
const TOKEN = env("TOKEN");
const NEW_TOKEN = env("NEW_TOKEN");
const INVALID_TOKEN = env("INVALID_TOKEN");
const EXPIRED_TOKEN = env("EXPIRED_TOKEN");
const TIMEOUT_MS = Number(process.env.TIMEOUT_MS || 30000);

let waitingFor = "start";
setTimeout(() => fail(`timed out after ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref();

// frames counts the WebSocket frames of every client, by direction and
// type: vsn 2.0.0 carries user broadcasts as binary frames, 1.0.0 never.
const frames = { text_in: 0, binary_in: 0, text_out: 0, binary_out: 0 };

// CountingWebSocket is the ws package's client (Node 20 has no global
// WebSocket; realtime-js takes it as transport) with frame counts.
class CountingWebSocket extends WebSocket {
  constructor(address, protocols) {
    super(address, protocols);
    this.addEventListener("message", (e) => {
      if (typeof e.data === "string") frames.text_in++;
      else frames.binary_in++;
    });
  }
  send(data, ...rest) {
    if (typeof data === "string") frames.text_out++;
    else frames.binary_out++;
    return super.send(data, ...rest);
  }
}

// inbox holds what the clients report (subscribe statuses, broadcasts,
// system messages, heartbeat statuses) until a step takes it.
const inbox = {
  items: [],
  waiters: [],
  push(item) {
    this.items.push(item);
    this.waiters = this.waiters.filter((w) => {
      const i = this.items.findIndex(w.match);
      if (i < 0) return true;
      w.resolve(this.items.splice(i, 1)[0]);
      return false;
    });
  },
  // next resolves with the first item that matches, now or when it comes.
  next(what, match) {
    waitingFor = what;
    const i = this.items.findIndex(match);
    if (i >= 0) return Promise.resolve(this.items.splice(i, 1)[0]);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  },
  // take removes and returns every item that matches, without waiting.
  take(match) {
    const taken = this.items.filter(match);
    this.items = this.items.filter((i) => !match(i));
    return taken;
  },
};

// logs keeps realtime-js's log lines (its logger option): the only public
// way to read the reason of a refused push.
const logs = [];

function newClient(token) {
  const c = new RealtimeClient(HUB_URL, {
    params: { apikey: token },
    vsn: VSN,
    transport: CountingWebSocket,
    timeout: 10000,
    logger: (kind, msg, data) => logs.push({ kind, msg, data }),
  });
  c.onHeartbeat((status) => inbox.push({ kind: "heartbeat", status }));
  return c;
}

// join makes a channel on the supplier topic, labelled for the inbox, and
// subscribes it; it resolves with the first subscribe status.
async function join(client, label, topic, config) {
  const ch = client.channel(topic, { config });
  ch.on("broadcast", { event: "*" }, (msg) => inbox.push({ kind: "broadcast", label, msg }));
  ch.on("system", {}, (payload) => inbox.push({ kind: "system", label, payload }));
  ch.subscribe((status, err) => inbox.push({ kind: "status", label, status, error: err ? err.message : undefined }));
  const st = await inbox.next(`the subscribe status of ${label}`, (i) => i.kind === "status" && i.label === label);
  return { ch, status: st.status, error: st.error };
}

// postEvent broadcasts through the demo's API, as the backend would.
async function postEvent(type, payload) {
  waitingFor = `POST /api/events ${type}`;
  const res = await fetch(API_URL + "/api/events", {
    method: "POST",
    headers: { Authorization: "Bearer " + ADMIN_TOKEN, "Content-Type": "application/json" },
    body: JSON.stringify({ supplier_id: SUPPLIER, type, payload }),
  });
  const body = await res.json();
  if (res.status !== 202) fail(`POST /api/events answered ${res.status}: ${JSON.stringify(body)}`);
  return body; // {id, offset, topic}
}

// roundTrip sends a heartbeat and waits for its reply. The hub handles a
// socket's frames in order, so once the reply is in, every frame sent
// before it (an access_token, say) has been handled.
async function roundTrip(client, what) {
  if (client.pendingHeartbeatRef) {
    await inbox.next(what, (i) => i.kind === "heartbeat" && i.status !== "sent");
  }
  inbox.take((i) => i.kind === "heartbeat");
  client.sendHeartbeat();
  const h = await inbox.next(what, (i) => i.kind === "heartbeat" && i.status !== "sent");
  if (h.status !== "ok") fail(`heartbeat answered ${h.status}`);
}

const topic = `supplier:${SUPPLIER}`;
const isBroadcast = (label, event) => (i) => i.kind === "broadcast" && i.label === label && i.msg.event === event;

// 1. Join the supplier's topic, as a dashboard does: private (the hub
// authorises it), acknowledged broadcasts, and its own echoes asked for.
const client = newClient(TOKEN);
await client.setAuth(TOKEN);
const main = await join(client, "main", topic, { private: true, broadcast: { ack: true, self: true } });
emit({ step: "join", topic: main.ch.topic, status: main.status, error: main.error, vsn: client.vsn, frames: { ...frames } });
if (main.status !== "SUBSCRIBED") fail(`join: ${main.status} ${main.error}`);

// 2. A broadcast the backend sends through the demo's API.
const sent1 = await postEvent("kpi.updated", { bookings: 21, revenue: { currency: "GBP", value: "1234.50" }, note: "Zoë & Chloé 🌸" });
const got1 = await inbox.next("the kpi.updated broadcast", isBroadcast("main", "kpi.updated"));
emit({ step: "server_broadcast", sent: sent1, received: got1.msg, frames: { ...frames } });

// 3. A broadcast from the client: the demo's hub refuses clients'
// broadcasts; with ack the refusal comes back as an error reply.
const sendResult = await main.ch.send({ type: "broadcast", event: "note.added", payload: { text: "from realtime-js" } });
const pushLog = logs.findLast((l) => l.kind === "push" && l.msg.startsWith(`${main.ch.topic} broadcast `));
const ref = pushLog ? /, ([^)]*)\)$/.exec(pushLog.msg)?.[1] : undefined;
const replyLog = ref ? logs.findLast((l) => l.kind === "receive" && l.msg.endsWith(`phx_reply (${ref})`)) : undefined;
// The socket and the channel still work after the refusal.
const sent2 = await postEvent("enquiry.received", { from: "Alex" });
const got2 = await inbox.next("the broadcast after the refused one", isBroadcast("main", "enquiry.received"));
emit({
  step: "client_broadcast",
  result: sendResult,
  reply: replyLog ? replyLog.data : null,
  state: main.ch.state,
  sent_after: sent2,
  received_after: got2.msg,
  echoed: inbox.take(isBroadcast("main", "note.added")).length,
  frames: { ...frames },
});

// 4. Another supplier's topic: the join is refused.
const other = await join(client, "other", `supplier:${OTHER_SUPPLIER}`, { private: true });
const removed = await client.removeChannel(other.ch); // stops realtime-js's rejoin attempts
emit({ step: "refused_join", topic: other.ch.topic, status: other.status, error: other.error, removed, main_state: main.ch.state });

// 5. Token refresh: setAuth sends access_token on the joined channel; the
// channel stays joined and keeps receiving.
await client.setAuth(NEW_TOKEN);
await roundTrip(client, "the heartbeat after the refresh");
const sent3 = await postEvent("kpi.updated", { bookings: 22 });
const got3 = await inbox.next("the broadcast after the refresh", isBroadcast("main", "kpi.updated"));
emit({
  step: "refresh",
  state: main.ch.state,
  system: inbox.take((i) => i.kind === "system" && i.label === "main").map((i) => i.payload),
  sent: sent3,
  received: got3.msg,
});

// 6. A token signed with the wrong secret: a system error, then the hub
// closes the channel.
await client.setAuth(INVALID_TOKEN);
const sysInvalid = await inbox.next("the system error of the invalid token", (i) => i.kind === "system" && i.label === "main");
const closedInvalid = await inbox.next("the close after the invalid token", (i) => i.kind === "status" && i.label === "main" && i.status === "CLOSED");
emit({ step: "invalid_token", system: sysInvalid.payload, status: closedInvalid.status, state: main.ch.state });

// 7. An expired token, on a channel joined again with a good one.
await client.setAuth(TOKEN);
const again = await join(client, "again", topic, { private: true });
if (again.status !== "SUBSCRIBED") fail(`join again: ${again.status} ${again.error}`);
await client.setAuth(EXPIRED_TOKEN);
const sysExpired = await inbox.next("the system error of the expired token", (i) => i.kind === "system" && i.label === "again");
const closedExpired = await inbox.next("the close after the expired token", (i) => i.kind === "status" && i.label === "again" && i.status === "CLOSED");
emit({ step: "expired_token", joined: again.status, system: sysExpired.payload, status: closedExpired.status, state: again.ch.state });

// 8. Replay after rejoin: the client goes away, the backend broadcasts
// twice, and a new client joins with broadcast.replay.since = the meta.ts
// of the newest broadcast it saw (realtime-js allows replay on private
// channels only). It gets what it missed, marked replayed, then the
// hub's replay_complete; then live broadcasts again.
await client.disconnect();
const lastSeen = got3.msg.meta;
const missed = [await postEvent("enquiry.received", { from: "Sam" }), await postEvent("kpi.updated", { bookings: 23 })];
const client2 = newClient(NEW_TOKEN);
await client2.setAuth(NEW_TOKEN);
const binaryBefore = frames.binary_in;
const rejoined = await join(client2, "replay", topic, { private: true, broadcast: { replay: { since: lastSeen.ts, limit: 100 } } });
if (rejoined.status !== "SUBSCRIBED") fail(`rejoin: ${rejoined.status} ${rejoined.error}`);
const done = await inbox.next("replay_complete", (i) => i.kind === "system" && i.label === "replay");
const replayed = inbox.take((i) => i.kind === "broadcast" && i.label === "replay").map((i) => i.msg);
const binaryReplayed = frames.binary_in - binaryBefore;
const sentLive = await postEvent("kpi.updated", { bookings: 24 });
const gotLive = await inbox.next("the live broadcast after the replay", isBroadcast("replay", "kpi.updated"));
const left = await client2.removeChannel(rejoined.ch); // phx_leave, answered ok
emit({
  step: "replay",
  since: lastSeen.ts,
  last_seen: lastSeen,
  missed,
  replayed,
  binary_replayed: binaryReplayed,
  system: done.payload,
  live_sent: sentLive,
  live_received: gotLive.msg,
  left,
  frames: { ...frames },
});
await client2.disconnect();

// 9. Presence, as the dashboard's "N viewing": the supplier's user on two
// devices (a laptop and a phone) tracks on its topic. The hub keys
// presence by the token's subject, as Phoenix keys a user: one key, two
// metas, seen by both devices; the phone's untrack reaches the laptop as a
// leave of the phone's meta.
const presenceOf = (label, ch) => () => inbox.push({ kind: "presence", label, state: ch.presenceState() });
const pages = (state) => Object.values(state).flat().map((m) => m.page).sort();
async function joinPresence(token, label) {
  const c = newClient(token);
  await c.setAuth(token);
  const ch = c.channel(topic, { config: { private: true, presence: { enabled: true } } });
  ch.on("presence", { event: "sync" }, presenceOf(label, ch));
  ch.on("presence", { event: "leave" }, ({ key, leftPresences }) => inbox.push({ kind: "leave", label, key, pages: leftPresences.map((m) => m.page) }));
  ch.subscribe((status, err) => inbox.push({ kind: "status", label, status, error: err ? err.message : undefined }));
  const st = await inbox.next(`the subscribe status of ${label}`, (i) => i.kind === "status" && i.label === label);
  if (st.status !== "SUBSCRIBED") fail(`presence join ${label}: ${st.status} ${st.error}`);
  return { c, ch };
}
const laptop = await joinPresence(TOKEN, "laptop");
const phone = await joinPresence(NEW_TOKEN, "phone");
const trackedLaptop = await laptop.ch.track({ device: "laptop", page: "dashboard" });
const trackedPhone = await phone.ch.track({ device: "phone", page: "calendar" });
const both = (label) => (i) => i.kind === "presence" && i.label === label && pages(i.state).join() === "calendar,dashboard";
const laptopSees = await inbox.next("the laptop seeing both devices", both("laptop"));
const phoneSees = await inbox.next("the phone seeing both devices", both("phone"));
const untracked = await phone.ch.untrack();
const leave = await inbox.next("the phone's leave on the laptop", (i) => i.kind === "leave" && i.label === "laptop");
const afterLeave = await inbox.next("the laptop seeing only itself", (i) => i.kind === "presence" && i.label === "laptop" && pages(i.state).join() === "dashboard");
emit({
  step: "presence",
  tracked: [trackedLaptop, trackedPhone],
  laptop_sees: laptopSees.state,
  phone_sees: phoneSees.state,
  untracked,
  left_key: leave.key,
  left_pages: leave.pages,
  after_leave: pages(afterLeave.state),
});
await laptop.c.disconnect();
await phone.c.disconnect();

emit({ step: "done", frames: { ...frames } });
process.exit(0);

// Package protocol is the wire format of Supabase Realtime (Phoenix
// channels) as both ends of package realtime speak it: the Hub that
// dashboards connect to, and the Client (package realtime/client) that
// talks to Supabase. It imports the standard library only, so that
// anything that needs to read or write a frame (a load generator, a proxy,
// a test) can do so without the rest of the SDK.
//
// A Message is one Phoenix message: join_ref, ref, topic, event and a JSON
// object payload. Two serializers carry it, chosen by the vsn query
// parameter of the socket URL. VSN1 ("1.0.0", what Supabase assumes when
// vsn is absent) sends JSON objects {"topic","event","payload","ref",
// "join_ref"}. VSN2 ("2.0.0", realtime-js 2.x's default) sends JSON arrays
// [join_ref, ref, topic, event, payload], and user broadcasts as binary
// frames: kind 3 from client to server, kind 4 from server to client.
// DecodeText and DecodeBinary read either; EncodeText writes text frames,
// EncodeUserBroadcastPush a client's kind 3 frame, and EncodeBroadcast a
// server's broadcast in whichever form its serializer uses. Every decoding
// error wraps ErrFrame and says what is wrong; a decoder never panics,
// whatever the bytes (FuzzDecodeFrame checks it).
//
// The payload types (JoinPayload, ReplyPayload, BroadcastPayload,
// SystemPayload, PresenceDiff, PostgresChangesPayload, ...) are what
// encoding/json reads and writes inside a message's payload, with the
// field names Supabase uses. BroadcastMeta, the broadcast's meta, carries
// the hub's additions (epoch, offset, ts) that let a client resume a topic
// without a gap; ReplayConfig and JoinResponse.Broadcast are the requests
// and cursors that go with them. Supabase ignores these additions, and our
// Client works without them.
//
// Topics are named on the wire with the "realtime:" prefix
// ("realtime:supplier:42"); WireTopic adds it and TopicName removes it.
// Socket-level messages such as heartbeats travel on PhoenixTopic.
package protocol

package protocol

import "strconv"

// EncodeBroadcast encodes a server-to-client broadcast: event with payload
// and meta on wireTopic (such as "realtime:supplier:42"), as serializer vsn
// sends it. It is the one encoder of broadcasts, for live sends and replays
// alike, so that every path sends the same bytes.
//
// With VSN2 the frame is a kind 4 binary frame (binary is true), unless
// the topic, the event or the encoded meta is longer than 255 bytes; it is
// then a text frame, as with VSN1:
//
//	{"topic":<wireTopic>,"event":"broadcast","payload":{"type":"broadcast","event":<event>,"payload":<payload>,"meta":<meta>},"ref":null,"join_ref":null}
//
// (a JSON array [null,null,<wireTopic>,"broadcast",{...}] with VSN2). The
// payload must be valid JSON and is copied byte for byte; an empty one is
// sent as {}. Meta fields that are zero are left out, as encoding/json's
// omitempty would. The frame is built in one allocation, so a server
// encodes each broadcast once per serializer and hands the same bytes to
// every socket; the caller must not modify them afterwards.
func EncodeBroadcast(vsn, wireTopic, event string, meta BroadcastMeta, payload []byte) (data []byte, binary bool) {
	if len(payload) == 0 {
		payload = emptyObject
	}
	var buf [256]byte
	m := appendMeta(buf[:0], meta)
	if vsn == VSN2 && len(wireTopic) <= 255 && len(event) <= 255 && len(m) <= 255 {
		b := make([]byte, 0, 5+len(wireTopic)+len(event)+len(m)+len(payload))
		b = append(b, kindUserBroadcast, byte(len(wireTopic)), byte(len(event)), byte(len(m)), encodingJSON)
		b = append(b, wireTopic...)
		b = append(b, event...)
		b = append(b, m...)
		return append(b, payload...), true
	}
	b := make([]byte, 0, len(payload)+len(m)+2*(len(wireTopic)+len(event))+128)
	if vsn == VSN2 {
		b = append(b, `[null,null,`...)
		b = appendJSONString(b, wireTopic)
		b = append(b, `,"broadcast",`...)
	} else {
		b = append(b, `{"topic":`...)
		b = appendJSONString(b, wireTopic)
		b = append(b, `,"event":"broadcast","payload":`...)
	}
	b = append(b, `{"type":"broadcast","event":`...)
	b = appendJSONString(b, event)
	b = append(b, `,"payload":`...)
	b = append(b, payload...)
	b = append(b, `,"meta":`...)
	b = append(b, m...)
	b = append(b, '}')
	if vsn == VSN2 {
		return append(b, ']'), false
	}
	return append(b, `,"ref":null,"join_ref":null}`...), false
}

var emptyObject = []byte("{}")

// appendMeta appends m as encoding/json would encode it (every field has
// omitempty).
func appendMeta(b []byte, m BroadcastMeta) []byte {
	b = append(b, '{')
	sep := false
	if m.ID != "" {
		b, sep = appendKey(b, sep, "id"), true
		b = appendJSONString(b, m.ID)
	}
	if m.Epoch != "" {
		b, sep = appendKey(b, sep, "epoch"), true
		b = appendJSONString(b, m.Epoch)
	}
	if m.Offset != 0 {
		b, sep = appendKey(b, sep, "offset"), true
		b = strconv.AppendUint(b, m.Offset, 10)
	}
	if m.TS != 0 {
		b, sep = appendKey(b, sep, "ts"), true
		b = strconv.AppendInt(b, m.TS, 10)
	}
	if m.Replayed {
		b = appendKey(b, sep, "replayed")
		b = append(b, "true"...)
	}
	return append(b, '}')
}

// appendKey appends "name": after a comma when sep is set.
func appendKey(b []byte, sep bool, name string) []byte {
	if sep {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

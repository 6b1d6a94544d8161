package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Serializer versions, chosen by the vsn query parameter of the socket URL.
const (
	// VSN1 frames are JSON objects {"topic","event","payload","ref","join_ref"}.
	// Supabase uses it when vsn is absent.
	VSN1 = "1.0.0"
	// VSN2 frames are JSON arrays [join_ref, ref, topic, event, payload];
	// user broadcasts travel as binary frames. realtime-js 2.x uses it by
	// default.
	VSN2 = "2.0.0"
)

// Binary frame kinds of the 2.0.0 serializer (realtime-js lib/serializer).
const (
	kindUserBroadcastPush = 3 // client to server
	kindUserBroadcast     = 4 // server to client
	encodingBinary        = 0
	encodingJSON          = 1
)

// ErrFrame is wrapped by every frame decoding error.
var ErrFrame = errors.New("protocol: malformed frame")

// Message is one Phoenix channel message. Refs are empty when the wire
// carries null.
type Message struct {
	JoinRef string
	Ref     string
	Topic   string
	Event   string
	Payload json.RawMessage
}

// frameError builds an error that wraps ErrFrame and says what is wrong.
func frameError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFrame, fmt.Sprintf(format, args...))
}

// DecodeText decodes a text frame of the given serializer version.
func DecodeText(vsn string, data []byte) (Message, error) {
	if vsn == VSN2 {
		return decodeArray(data)
	}
	return decodeObject(data)
}

// DecodeBinary decodes a binary frame of the 2.0.0 serializer: a user
// broadcast pushed by a client (kind 3) or sent by a server (kind 4). Both
// come out as event "broadcast" with the payload
// {"type":"broadcast","event":..,"payload":..[,"meta":..]}. Only JSON user
// payloads are supported; binary ones are refused with an error.
func DecodeBinary(data []byte) (Message, error) {
	if len(data) == 0 {
		return Message{}, frameError("empty binary frame")
	}
	switch data[0] {
	case kindUserBroadcastPush:
		return decodeUserBroadcastPush(data)
	case kindUserBroadcast:
		return decodeUserBroadcast(data)
	default:
		return Message{}, frameError("binary frame kind %d is not supported (want 3 or 4)", data[0])
	}
}

type wireObject struct {
	Topic   *string         `json:"topic"`
	Event   *string         `json:"event"`
	Payload json.RawMessage `json:"payload"`
	Ref     json.RawMessage `json:"ref"`
	JoinRef json.RawMessage `json:"join_ref"`
}

func decodeObject(data []byte) (Message, error) {
	var w wireObject
	if err := json.Unmarshal(data, &w); err != nil {
		return Message{}, frameError("not a JSON object frame: %v", err)
	}
	if w.Topic == nil || *w.Topic == "" {
		return Message{}, frameError("field topic is required")
	}
	if w.Event == nil || *w.Event == "" {
		return Message{}, frameError("field event is required")
	}
	ref, err := decodeRef("ref", w.Ref)
	if err != nil {
		return Message{}, err
	}
	joinRef, err := decodeRef("join_ref", w.JoinRef)
	if err != nil {
		return Message{}, err
	}
	payload, err := decodePayload(w.Payload)
	if err != nil {
		return Message{}, err
	}
	return Message{JoinRef: joinRef, Ref: ref, Topic: *w.Topic, Event: *w.Event, Payload: payload}, nil
}

func decodeArray(data []byte) (Message, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil {
		return Message{}, frameError("not a JSON array frame: %v", err)
	}
	if len(parts) != 5 {
		return Message{}, frameError("array frame has %d elements, want 5 [join_ref, ref, topic, event, payload]", len(parts))
	}
	joinRef, err := decodeRef("join_ref", parts[0])
	if err != nil {
		return Message{}, err
	}
	ref, err := decodeRef("ref", parts[1])
	if err != nil {
		return Message{}, err
	}
	var topic, event string
	if err := json.Unmarshal(parts[2], &topic); err != nil || topic == "" {
		return Message{}, frameError("topic must be a non-empty string")
	}
	if err := json.Unmarshal(parts[3], &event); err != nil || event == "" {
		return Message{}, frameError("event must be a non-empty string")
	}
	payload, err := decodePayload(parts[4])
	if err != nil {
		return Message{}, err
	}
	return Message{JoinRef: joinRef, Ref: ref, Topic: topic, Event: event, Payload: payload}, nil
}

// decodeRef accepts a string, an integer or null.
func decodeRef(field string, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", frameError("%s: %v", field, err)
		}
		return s, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return "", frameError("%s must be a string, an integer or null", field)
	}
	return strconv.FormatInt(n, 10), nil
}

// decodePayload requires a JSON object (or null, read as {}).
func decodePayload(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("{}"), nil
	}
	if raw[0] != '{' {
		return nil, frameError("payload must be a JSON object")
	}
	return raw, nil
}

// decodeUserBroadcastPush reads kind 3. realtime-js has used two headers:
// [3, join_ref, ref, topic, event, encoding] and, since metadata was added,
// [3, join_ref, ref, topic, event, meta, encoding]. The byte after the
// header is the first byte of a ref or topic (printable) in the first and
// the encoding (0 or 1) in the second, which tells them apart.
func decodeUserBroadcastPush(data []byte) (Message, error) {
	if len(data) < 6 {
		return Message{}, frameError("kind 3 frame shorter than its header")
	}
	lens := []int{int(data[1]), int(data[2]), int(data[3]), int(data[4])}
	metaLen, encoding, off := 0, data[5], 6
	if len(data) >= 7 && data[6] <= encodingJSON {
		metaLen, encoding, off = int(data[5]), data[6], 7
	}
	fields := make([]string, 5)
	for i, n := range append(lens, metaLen) {
		if off+n > len(data) {
			return Message{}, frameError("kind 3 frame is shorter than its field lengths")
		}
		fields[i] = string(data[off : off+n])
		off += n
	}
	return userBroadcastMessage(fields[0], fields[1], fields[2], fields[3], fields[4], encoding, data[off:])
}

// decodeUserBroadcast reads kind 4: [4, topic, event, meta, encoding].
func decodeUserBroadcast(data []byte) (Message, error) {
	if len(data) < 5 {
		return Message{}, frameError("kind 4 frame shorter than its header")
	}
	lens := []int{int(data[1]), int(data[2]), int(data[3])}
	encoding, off := data[4], 5
	fields := make([]string, 3)
	for i, n := range lens {
		if off+n > len(data) {
			return Message{}, frameError("kind 4 frame is shorter than its field lengths")
		}
		fields[i] = string(data[off : off+n])
		off += n
	}
	return userBroadcastMessage("", "", fields[0], fields[1], fields[2], encoding, data[off:])
}

func userBroadcastMessage(joinRef, ref, topic, event, meta string, encoding byte, payload []byte) (Message, error) {
	if topic == "" {
		return Message{}, frameError("topic is required")
	}
	if event == "" {
		return Message{}, frameError("broadcast event is required")
	}
	for name, s := range map[string]string{"join_ref": joinRef, "ref": ref, "topic": topic, "event": event} {
		if !utf8.ValidString(s) {
			return Message{}, frameError("%s is not valid UTF-8", name)
		}
	}
	if encoding != encodingJSON {
		return Message{}, frameError("binary user payloads (encoding %d) are not supported; send JSON", encoding)
	}
	if !json.Valid(payload) {
		return Message{}, frameError("user payload is not valid JSON")
	}
	if meta != "" && !json.Valid([]byte(meta)) {
		return Message{}, frameError("meta is not valid JSON")
	}
	b := make([]byte, 0, len(payload)+len(event)+len(meta)+64)
	b = append(b, `{"type":"broadcast","event":`...)
	b = appendJSONString(b, event)
	b = append(b, `,"payload":`...)
	b = append(b, bytes.TrimSpace(payload)...)
	if meta != "" {
		b = append(b, `,"meta":`...)
		b = append(b, meta...)
	}
	b = append(b, '}')
	return Message{JoinRef: joinRef, Ref: ref, Topic: topic, Event: EventBroadcast, Payload: b}, nil
}

// EncodeText encodes m as a text frame of the given serializer version.
// The payload must be valid JSON; an empty payload is sent as {}.
func EncodeText(vsn string, m Message) []byte {
	payload := m.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	b := make([]byte, 0, len(payload)+len(m.Topic)+len(m.Event)+64)
	if vsn == VSN2 {
		b = append(b, '[')
		b = appendRef(b, m.JoinRef)
		b = append(b, ',')
		b = appendRef(b, m.Ref)
		b = append(b, ',')
		b = appendJSONString(b, m.Topic)
		b = append(b, ',')
		b = appendJSONString(b, m.Event)
		b = append(b, ',')
		b = append(b, payload...)
		return append(b, ']')
	}
	b = append(b, `{"topic":`...)
	b = appendJSONString(b, m.Topic)
	b = append(b, `,"event":`...)
	b = appendJSONString(b, m.Event)
	b = append(b, `,"payload":`...)
	b = append(b, payload...)
	b = append(b, `,"ref":`...)
	b = appendRef(b, m.Ref)
	b = append(b, `,"join_ref":`...)
	b = appendRef(b, m.JoinRef)
	return append(b, '}')
}

// EncodeUserBroadcastPush encodes a client-to-server user broadcast as a
// kind 3 binary frame with the metadata header. ok is false when a field is
// longer than 255 bytes.
func EncodeUserBroadcastPush(joinRef, ref, topic, event string, meta, payload []byte) (frame []byte, ok bool) {
	for _, n := range []int{len(joinRef), len(ref), len(topic), len(event), len(meta)} {
		if n > 255 {
			return nil, false
		}
	}
	b := make([]byte, 0, 7+len(joinRef)+len(ref)+len(topic)+len(event)+len(meta)+len(payload))
	b = append(b, kindUserBroadcastPush, byte(len(joinRef)), byte(len(ref)), byte(len(topic)), byte(len(event)), byte(len(meta)), encodingJSON)
	b = append(b, joinRef...)
	b = append(b, ref...)
	b = append(b, topic...)
	b = append(b, event...)
	b = append(b, meta...)
	return append(b, payload...), true
}

func appendRef(b []byte, ref string) []byte {
	if ref == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, ref)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			enc, _ := json.Marshal(s)
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

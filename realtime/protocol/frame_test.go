package protocol_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime/protocol"
)

func TestFrameRoundTripBothSerializers(t *testing.T) {
	for _, vsn := range []string{protocol.VSN1, protocol.VSN2} {
		m := protocol.Message{JoinRef: "1", Ref: "2", Topic: "realtime:supplier:1", Event: "phx_join", Payload: json.RawMessage(`{"config":{"private":true}}`)}
		got, err := protocol.DecodeText(vsn, protocol.EncodeText(vsn, m))
		require.NoError(t, err, vsn)
		require.Equal(t, m, got, vsn)
		// Null refs come back empty.
		m = protocol.Message{Topic: "phoenix", Event: "heartbeat", Payload: json.RawMessage(`{}`)}
		got, err = protocol.DecodeText(vsn, protocol.EncodeText(vsn, m))
		require.NoError(t, err)
		require.Equal(t, m, got)
	}
	require.Equal(t, `[null,"3","phoenix","heartbeat",{}]`, string(protocol.EncodeText(protocol.VSN2, protocol.Message{Ref: "3", Topic: "phoenix", Event: "heartbeat"})))
	require.Equal(t, `{"topic":"t\"x","event":"e","payload":{},"ref":null,"join_ref":null}`, string(protocol.EncodeText(protocol.VSN1, protocol.Message{Topic: `t"x`, Event: "e"})))
}

func TestFrameDecodeAcceptsWhatPhoenixClientsSend(t *testing.T) {
	// Integer refs (some clients), a null payload.
	m, err := protocol.DecodeText(protocol.VSN1, []byte(`{"topic":"phoenix","event":"heartbeat","payload":null,"ref":7}`))
	require.NoError(t, err)
	require.Equal(t, "7", m.Ref)
	require.JSONEq(t, `{}`, string(m.Payload))
}

func TestFrameDecodeErrorsNameTheProblem(t *testing.T) {
	for _, tc := range []struct {
		vsn, in, want string
	}{
		{protocol.VSN1, `nope`, "not a JSON object frame"},
		{protocol.VSN1, `{"event":"e","payload":{}}`, "field topic is required"},
		{protocol.VSN1, `{"topic":"t","payload":{}}`, "field event is required"},
		{protocol.VSN1, `{"topic":"t","event":"e","payload":[1]}`, "payload must be a JSON object"},
		{protocol.VSN1, `{"topic":"t","event":"e","ref":1.5}`, "ref must be a string"},
		{protocol.VSN2, `[1,2,"t","e"]`, "has 4 elements"},
		{protocol.VSN2, `[null,null,"","e",{}]`, "topic must be a non-empty string"},
	} {
		_, err := protocol.DecodeText(tc.vsn, []byte(tc.in))
		require.ErrorIs(t, err, protocol.ErrFrame, tc.in)
		require.ErrorContains(t, err, tc.want, tc.in)
	}
}

func TestBinaryUserBroadcastFrames(t *testing.T) {
	// Server to client, kind 4.
	f, binary := protocol.EncodeBroadcast(protocol.VSN2, "realtime:supplier:1", "kpi.updated", protocol.BroadcastMeta{ID: "e:1"}, []byte(`{"n":1}`))
	require.True(t, binary)
	m, err := protocol.DecodeBinary(f)
	require.NoError(t, err)
	require.Equal(t, "broadcast", m.Event)
	require.Equal(t, "realtime:supplier:1", m.Topic)
	require.JSONEq(t, `{"type":"broadcast","event":"kpi.updated","payload":{"n":1},"meta":{"id":"e:1"}}`, string(m.Payload))

	// Client to server, kind 3, with the metadata header (current
	// realtime-js) ...
	f, ok := protocol.EncodeUserBroadcastPush("1", "2", "realtime:supplier:1", "cursor", nil, []byte(`{"x":1}`))
	require.True(t, ok)
	m, err = protocol.DecodeBinary(f)
	require.NoError(t, err)
	require.Equal(t, protocol.Message{JoinRef: "1", Ref: "2", Topic: "realtime:supplier:1", Event: "broadcast",
		Payload: json.RawMessage(`{"type":"broadcast","event":"cursor","payload":{"x":1}}`)}, m)

	// ... and without it (realtime-js before metadata): kind, four
	// lengths, encoding.
	old := []byte{3, 1, 1, 19, 6, 1}
	old = append(old, "12realtime:supplier:1cursor"...)
	old = append(old, `{"x":2}`...)
	m, err = protocol.DecodeBinary(old)
	require.NoError(t, err)
	require.Equal(t, "1", m.JoinRef)
	require.Equal(t, "2", m.Ref)
	require.JSONEq(t, `{"type":"broadcast","event":"cursor","payload":{"x":2}}`, string(m.Payload))

	// Too long for one length byte: the caller falls back to text.
	_, binary = protocol.EncodeBroadcast(protocol.VSN2, string(make([]byte, 256)), "e", protocol.BroadcastMeta{}, []byte(`{}`))
	require.False(t, binary)
	_, ok = protocol.EncodeUserBroadcastPush("", "", string(make([]byte, 256)), "e", nil, []byte(`{}`))
	require.False(t, ok)

	for _, bad := range [][]byte{nil, {9}, {3, 1}, {4, 200, 1, 0, 1}, append([]byte{4, 1, 1, 0, 0, 't', 'e'}, "{}"...), append([]byte{4, 1, 1, 0, 1, 't', 'e'}, "{"...)} {
		_, err := protocol.DecodeBinary(bad)
		require.ErrorIs(t, err, protocol.ErrFrame, "%v", bad)
	}
}

// FuzzDecodeFrame feeds arbitrary bytes to every decoder: they return a
// message or an ErrFrame, never panic, and what they accept re-encodes to
// something that decodes to the same message.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(uint8(0), []byte(`{"topic":"realtime:supplier:1","event":"phx_join","payload":{"config":{}},"ref":"1","join_ref":"1"}`))
	f.Add(uint8(1), []byte(`["1","1","realtime:supplier:1","phx_join",{"config":{}}]`))
	f.Add(uint8(1), []byte(`[null,"2","phoenix","heartbeat",{}]`))
	f.Add(uint8(2), []byte("\x03\x01\x01\x13\x06\x00\x0112realtime:supplier:1cursor{\"x\":1}"))
	f.Add(uint8(2), []byte("\x04\x13\x0b\x00\x01realtime:supplier:1kpi.updated{\"n\":1}"))
	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		var (
			m   protocol.Message
			err error
			vsn = protocol.VSN1
		)
		switch mode % 3 {
		case 0:
			m, err = protocol.DecodeText(protocol.VSN1, data)
		case 1:
			vsn = protocol.VSN2
			m, err = protocol.DecodeText(protocol.VSN2, data)
		default:
			vsn = protocol.VSN2
			m, err = protocol.DecodeBinary(data)
		}
		if err != nil {
			require.ErrorIs(t, err, protocol.ErrFrame)
			return
		}
		require.NotEmpty(t, m.Topic)
		require.NotEmpty(t, m.Event)
		require.True(t, json.Valid(m.Payload))
		again, err := protocol.DecodeText(vsn, protocol.EncodeText(vsn, m))
		require.NoError(t, err)
		require.Equal(t, m.Topic, again.Topic)
		require.Equal(t, m.Event, again.Event)
		require.Equal(t, m.Ref, again.Ref)
		require.Equal(t, m.JoinRef, again.JoinRef)
		require.JSONEq(t, string(m.Payload), string(again.Payload))
	})
}

package protocol_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime/protocol"
)

// What the hub sent before EncodeBroadcast: meta through encoding/json,
// the broadcast payload built around the user's payload, then the frame.
func referenceBroadcast(vsn, topic, event string, meta protocol.BroadcastMeta, payload []byte) ([]byte, bool) {
	metaJSON, _ := json.Marshal(meta)
	if vsn == protocol.VSN2 && len(topic) <= 255 && len(event) <= 255 && len(metaJSON) <= 255 {
		// Kind 4: kind, three lengths, encoding (1, JSON), the fields, the payload.
		b := []byte{4, byte(len(topic)), byte(len(event)), byte(len(metaJSON)), 1}
		b = append(b, topic...)
		b = append(b, event...)
		b = append(b, metaJSON...)
		return append(b, payload...), true
	}
	ev, _ := json.Marshal(event)
	body := `{"type":"broadcast","event":` + string(ev) + `,"payload":` + string(payload) + `,"meta":` + string(metaJSON) + `}`
	return protocol.EncodeText(vsn, protocol.Message{Topic: topic, Event: protocol.EventBroadcast, Payload: json.RawMessage(body)}), false
}

func TestEncodeBroadcastMatchesTheMessageEncoding(t *testing.T) {
	metas := []protocol.BroadcastMeta{
		{ID: "AbCdEfGh:42", Epoch: "AbCdEfGh", Offset: 42, TS: 1764115200123},
		{ID: "AbCdEfGh:1", Epoch: "AbCdEfGh", Offset: 1, TS: 1764115200123, Replayed: true},
		{},
		{Replayed: true},
		{ID: `odd "id"`, TS: -1},
	}
	topics := []string{"realtime:supplier:42", `realtime:we"ird` + "\n", "realtime:" + strings.Repeat("x", 300)}
	events := []string{"kpi.updated", "é", strings.Repeat("e", 256)}
	payload := []byte(`{"bookings":12,"revenue":"£3,400"}`)
	for _, vsn := range []string{protocol.VSN1, protocol.VSN2} {
		for _, meta := range metas {
			for _, topic := range topics {
				for _, event := range events {
					got, binary := protocol.EncodeBroadcast(vsn, topic, event, meta, payload)
					want, wantBinary := referenceBroadcast(vsn, topic, event, meta, payload)
					require.Equal(t, wantBinary, binary, "%s %q %q %+v", vsn, topic, event, meta)
					if binary {
						require.Equal(t, want, got)
					} else {
						require.JSONEq(t, string(want), string(got))
					}
					var m protocol.Message
					var err error
					if binary {
						m, err = protocol.DecodeBinary(got)
					} else {
						m, err = protocol.DecodeText(vsn, got)
					}
					require.NoError(t, err)
					require.Equal(t, topic, m.Topic)
					require.Equal(t, protocol.EventBroadcast, m.Event)
					var b protocol.BroadcastPayload
					require.NoError(t, json.Unmarshal(m.Payload, &b))
					require.Equal(t, "broadcast", b.Type)
					require.Equal(t, event, b.Event)
					require.JSONEq(t, string(payload), string(b.Payload))
					require.NotNil(t, b.Meta)
					require.Equal(t, meta, *b.Meta)
				}
			}
		}
	}
}

func TestEncodeBroadcastExactBytes(t *testing.T) {
	meta := protocol.BroadcastMeta{ID: "E:7", Epoch: "E", Offset: 7, TS: 1000, Replayed: true}
	got, binary := protocol.EncodeBroadcast(protocol.VSN1, "realtime:s", "k", meta, []byte(`{"n":1}`))
	require.False(t, binary)
	require.Equal(t, `{"topic":"realtime:s","event":"broadcast","payload":{"type":"broadcast","event":"k","payload":{"n":1},`+
		`"meta":{"id":"E:7","epoch":"E","offset":7,"ts":1000,"replayed":true}},"ref":null,"join_ref":null}`, string(got))
	got, binary = protocol.EncodeBroadcast(protocol.VSN2, "realtime:s", "k", protocol.BroadcastMeta{}, nil)
	require.True(t, binary)
	require.Equal(t, "\x04\x0a\x01\x02\x01realtime:sk{}{}", string(got))
	got, binary = protocol.EncodeBroadcast(protocol.VSN2, "realtime:"+strings.Repeat("t", 250), "k", protocol.BroadcastMeta{Offset: 1}, []byte(`{}`))
	require.False(t, binary, "a topic over 255 bytes goes as text")
	require.True(t, strings.HasPrefix(string(got), `[null,null,"realtime:tttt`), string(got[:40]))
}

// One allocation per frame: the hub encodes each publication once per
// serializer, and the frame is all it allocates.
func TestEncodeBroadcastAllocatesTheFrameOnly(t *testing.T) {
	meta := protocol.BroadcastMeta{ID: "AbCdEfGh:42", Epoch: "AbCdEfGh", Offset: 42, TS: 1764115200123, Replayed: true}
	payload := []byte(`{"bookings":12,"pad":"` + strings.Repeat("x", 1000) + `"}`)
	for _, vsn := range []string{protocol.VSN1, protocol.VSN2} {
		allocs := testing.AllocsPerRun(100, func() {
			_, _ = protocol.EncodeBroadcast(vsn, "realtime:supplier:42", "kpi.updated", meta, payload)
		})
		require.Equal(t, 1.0, allocs, vsn)
	}
}

func BenchmarkEncodeBroadcast(b *testing.B) {
	meta := protocol.BroadcastMeta{ID: "AbCdEfGh:42", Epoch: "AbCdEfGh", Offset: 42, TS: 1764115200123}
	payload := []byte(`{"bookings":12,"pad":"` + strings.Repeat("x", 1000) + `"}`)
	for _, vsn := range []string{protocol.VSN1, protocol.VSN2} {
		b.Run("vsn="+vsn, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = protocol.EncodeBroadcast(vsn, "realtime:supplier:42", "kpi.updated", meta, payload)
			}
		})
	}
}

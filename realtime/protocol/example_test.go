package protocol_test

import (
	"encoding/json"
	"fmt"

	"github.com/wedsync/integrations/realtime/protocol"
)

// A client's join, as it travels with each serializer, and read back.
func ExampleEncodeText() {
	payload, _ := json.Marshal(protocol.JoinPayload{Config: protocol.JoinConfig{Private: true}})
	m := protocol.Message{JoinRef: "1", Ref: "1", Topic: protocol.WireTopic("supplier:42"), Event: protocol.EventJoin, Payload: payload}
	v1 := protocol.EncodeText(protocol.VSN1, m)
	v2 := protocol.EncodeText(protocol.VSN2, m)
	fmt.Println(string(v2))

	back, err := protocol.DecodeText(protocol.VSN1, v1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(back.Topic, back.Event, protocol.TopicName(back.Topic))
	// Output:
	// ["1","1","realtime:supplier:42","phx_join",{"config":{"broadcast":{"ack":false,"self":false},"presence":{"key":""},"postgres_changes":null,"private":true}}]
	// realtime:supplier:42 phx_join supplier:42
}

// A server's broadcast: a kind 4 binary frame with VSN2, a text frame with
// VSN1. Either decodes to event "broadcast" with the same payload.
func ExampleEncodeBroadcast() {
	meta := protocol.BroadcastMeta{ID: "Q3J7KD2M:42", Epoch: "Q3J7KD2M", Offset: 42, TS: 1764115200123}
	for _, vsn := range []string{protocol.VSN1, protocol.VSN2} {
		frame, binary := protocol.EncodeBroadcast(vsn, "realtime:supplier:42", "kpi.updated", meta, []byte(`{"bookings":12}`))
		var m protocol.Message
		var err error
		if binary {
			m, err = protocol.DecodeBinary(frame)
		} else {
			m, err = protocol.DecodeText(vsn, frame)
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		var b protocol.BroadcastPayload
		_ = json.Unmarshal(m.Payload, &b)
		fmt.Println(vsn, "binary:", binary, b.Event, string(b.Payload), "offset", b.Meta.Offset)
	}
	// Output:
	// 1.0.0 binary: false kpi.updated {"bookings":12} offset 42
	// 2.0.0 binary: true kpi.updated {"bookings":12} offset 42
}

package realtime

import (
	"context"
	"encoding/json"
)

// PresenceMember is one tracked channel as a PresenceBroker stores it.
type PresenceMember struct {
	// Topic is the topic name without the "realtime:" prefix.
	Topic string
	// Key is the presence key the member shows under in presence_state
	// and presence_diff (the principal's subject, see
	// WithClientPresenceKeys).
	Key string
	// ID names the tracked channel, unique across every hub instance on
	// the broker: a hub uses its channel's origin (an id of the hub
	// instance, the socket and the join). Tracking an ID again replaces
	// its member.
	ID string
	// Meta is the meta as the hub sends it to sockets, phx_ref included:
	// a JSON object, byte for byte.
	Meta json.RawMessage
}

// PresenceBroker is a Broker that also shares presence between the hub
// instances attached to its store, so that a dashboard on one instance
// sees who is viewing on every instance. A hub whose broker implements it
// keeps no presence of its own: it writes its channels' tracks to the
// broker and shows what the broker holds. A hub whose broker does not
// (the MemoryBroker, which serves one hub, whose own presence is the
// whole) counts the presence of its own sockets.
//
// The contract: Track and Untrack store or remove a member, and once they
// return, the PresenceHandler of every attached hub (this one included)
// is told, with OnPresence, that the member may have changed; Presence
// answers from the same store. Members belong to the broker that tracked
// them: when it stops (closes, crashes, loses its database), its members
// must disappear within a bound the implementation documents (a
// time-to-live), and the other hubs are told. A notification is a hint,
// never content: hubs read the members back with Presence, so a hint
// that is forged, repeated or late changes nothing.
type PresenceBroker interface {
	Broker
	// Track stores m, replacing the member of m.Topic with m.ID.
	Track(ctx context.Context, m PresenceMember) error
	// Untrack removes the member of topic with id, if this broker
	// tracked it; removing one that is not there is no error.
	Untrack(ctx context.Context, topic, id string) error
	// Presence returns the members of topic, in no particular order; with
	// ids, only those of them that are present.
	Presence(ctx context.Context, topic string, ids ...string) ([]PresenceMember, error)
}

// PresenceHandler is a BrokerHandler that hears about presence changes; a
// PresenceBroker tells the handler it is attached to, when the handler
// implements it. The hub's does.
type PresenceHandler interface {
	BrokerHandler
	// OnPresence says that the members of topic with ids may have changed
	// (any member of it, when ids is empty). It must not block: the
	// handler reads the members back with Presence. After OnResync, any
	// member of any topic may have changed.
	OnPresence(topic string, ids []string)
}

package protocol

import (
	"encoding/json"
	"strings"
)

// Phoenix and Supabase Realtime event names.
const (
	EventJoin            = "phx_join"
	EventLeave           = "phx_leave"
	EventReply           = "phx_reply"
	EventError           = "phx_error"
	EventClose           = "phx_close"
	EventHeartbeat       = "heartbeat"
	EventAccessToken     = "access_token"
	EventBroadcast       = "broadcast"
	EventPresence        = "presence"
	EventPresenceState   = "presence_state"
	EventPresenceDiff    = "presence_diff"
	EventPostgresChanges = "postgres_changes"
	EventSystem          = "system"
)

// PhoenixTopic is the topic of socket-level messages such as heartbeats.
const PhoenixTopic = "phoenix"

// TopicPrefix starts every Supabase Realtime channel topic on the wire.
const TopicPrefix = "realtime:"

// WireTopic returns the wire form of a topic name: "supplier:42" becomes
// "realtime:supplier:42". A name that already has the prefix is returned
// as it is.
func WireTopic(name string) string {
	if strings.HasPrefix(name, TopicPrefix) {
		return name
	}
	return TopicPrefix + name
}

// TopicName strips the "realtime:" prefix from a wire topic.
func TopicName(wire string) string { return strings.TrimPrefix(wire, TopicPrefix) }

// JoinPayload is the payload of phx_join.
type JoinPayload struct {
	Config      JoinConfig `json:"config"`
	AccessToken string     `json:"access_token,omitempty"`
}

// JoinConfig is the channel configuration a client sends when it joins.
type JoinConfig struct {
	Broadcast       BroadcastConfig        `json:"broadcast"`
	Presence        PresenceConfig         `json:"presence"`
	PostgresChanges []PostgresChangeFilter `json:"postgres_changes"`
	Private         bool                   `json:"private"`
}

// BroadcastConfig says how broadcasts behave on a channel.
type BroadcastConfig struct {
	// Ack asks the server to reply to each broadcast the client sends.
	Ack bool `json:"ack"`
	// Self asks the server to send the client its own broadcasts.
	Self bool `json:"self"`
	// Replay asks the server for the broadcasts sent since a moment.
	Replay *ReplayConfig `json:"replay,omitempty"`
	// ReplicationReady asks for a system message once changes flow.
	ReplicationReady bool `json:"replication_ready,omitempty"`
}

// ReplayConfig asks for the history of a topic on join.
type ReplayConfig struct {
	// Since is a Unix time in milliseconds; broadcasts at or after it are
	// replayed (inclusive: a client drops what it already has by meta.id).
	Since int64 `json:"since"`
	// Limit caps how many are replayed; 0 means the server's maximum.
	Limit int `json:"limit,omitempty"`
	// Epoch and After are the hub's exact alternative to Since: replay
	// what follows offset After of stream Epoch (a broadcast's meta, or
	// the join reply's cursor). When Epoch is set, Since is ignored.
	Epoch string `json:"epoch,omitempty"`
	After uint64 `json:"after,omitempty"`
}

// PresenceConfig configures presence on a channel.
type PresenceConfig struct {
	Enabled bool   `json:"enabled,omitempty"`
	Key     string `json:"key"`
}

// PostgresChangeFilter selects database changes: Event is "*", "INSERT",
// "UPDATE" or "DELETE"; Filter is "column=op.value" with op one of eq, neq,
// lt, lte, gt, gte, in (in takes "(a,b,c)").
type PostgresChangeFilter struct {
	ID     int64  `json:"id,omitempty"`
	Event  string `json:"event"`
	Schema string `json:"schema"`
	Table  string `json:"table,omitempty"`
	Filter string `json:"filter,omitempty"`
}

// ReplyPayload is the payload of phx_reply.
type ReplyPayload struct {
	Status   string          `json:"status"`
	Response json.RawMessage `json:"response"`
}

// JoinResponse is the response of a successful join reply.
type JoinResponse struct {
	PostgresChanges []PostgresChangeFilter `json:"postgres_changes"`
	// Broadcast is the hub's cursor: the topic's stream position at the
	// join. Every broadcast after it reaches the channel (or the client is
	// told to reload), so a client that has received nothing yet resumes
	// from here. Absent from Supabase's replies.
	Broadcast *BroadcastCursor `json:"broadcast,omitempty"`
}

// BroadcastCursor is a position in a topic's stream.
type BroadcastCursor struct {
	Epoch  string `json:"epoch"`
	Offset uint64 `json:"offset"`
}

// ErrorResponse is the response of an error reply.
type ErrorResponse struct {
	Reason string `json:"reason"`
}

// BroadcastPayload is the payload of a broadcast message.
type BroadcastPayload struct {
	Type    string          `json:"type"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
	Meta    *BroadcastMeta  `json:"meta,omitempty"`
}

// BroadcastMeta identifies a broadcast the hub kept in its history. ID is
// what Supabase sends; Epoch, Offset and TS are the hub's additions that let
// a client resume without a gap: offsets grow by one per topic within an
// epoch, and TS (Unix milliseconds) is what a client sends as replay.since.
type BroadcastMeta struct {
	ID       string `json:"id,omitempty"`
	Epoch    string `json:"epoch,omitempty"`
	Offset   uint64 `json:"offset,omitempty"`
	TS       int64  `json:"ts,omitempty"`
	Replayed bool   `json:"replayed,omitempty"`
}

// SystemPayload is the payload of a system message.
type SystemPayload struct {
	Extension string `json:"extension"`
	Status    string `json:"status"`
	Message   string `json:"message"`
	Channel   string `json:"channel,omitempty"`
	// Code is a machine-readable reason the hub adds, such as
	// CodeReplayIncomplete.
	Code string `json:"code,omitempty"`
}

// System message codes the hub sends.
const (
	// CodeReplayIncomplete says the history no longer reaches back to the
	// requested moment: the client must reload its state.
	CodeReplayIncomplete = "replay_incomplete"
	// CodeReplayComplete says every broadcast since the requested moment
	// was replayed.
	CodeReplayComplete = "replay_complete"
	// CodeTokenExpired says the channel's access token expired.
	CodeTokenExpired = "token_expired"
	// CodeTokenInvalid says a refreshed access token was refused.
	CodeTokenInvalid = "token_invalid"
)

// PresencePush is what a client sends on event "presence" to track or
// untrack itself.
type PresencePush struct {
	Type    string          `json:"type"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// PresenceMeta is one presence entry; PhxRef identifies it, the rest is the
// client's payload (stored as raw JSON object fields).
type PresenceMeta map[string]json.RawMessage

// PresenceEntry lists the metas of one presence key.
type PresenceEntry struct {
	Metas []PresenceMeta `json:"metas"`
}

// PresenceState maps each key to its entries.
type PresenceState map[string]PresenceEntry

// PresenceDiff is the payload of presence_diff.
type PresenceDiff struct {
	Joins  PresenceState `json:"joins"`
	Leaves PresenceState `json:"leaves"`
}

// PostgresChangesPayload is the payload of a postgres_changes message.
type PostgresChangesPayload struct {
	IDs  []int64        `json:"ids"`
	Data PostgresChange `json:"data"`
}

// PostgresChange is one database change.
type PostgresChange struct {
	Schema          string          `json:"schema"`
	Table           string          `json:"table"`
	CommitTimestamp string          `json:"commit_timestamp"`
	Type            string          `json:"type"`
	Columns         []Column        `json:"columns"`
	Record          json.RawMessage `json:"record"`
	OldRecord       json.RawMessage `json:"old_record"`
	Errors          json.RawMessage `json:"errors"`
}

// Column names a column of a changed table.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

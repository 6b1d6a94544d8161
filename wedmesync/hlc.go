package wedmesync

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Timestamp is a hybrid logical clock reading: wall-clock milliseconds, a
// counter that orders readings within one millisecond (or while the wall
// clock lags what was observed), and the node that made it, which breaks
// ties deterministically. Readings compare in that order.
type Timestamp struct {
	Wall    int64  // Unix milliseconds
	Logical uint32 // within Wall
	Node    string // the writer's node id
}

// Compare orders timestamps: by Wall, then Logical, then Node.
func (t Timestamp) Compare(o Timestamp) int {
	return cmp.Or(cmp.Compare(t.Wall, o.Wall), cmp.Compare(t.Logical, o.Logical), strings.Compare(t.Node, o.Node))
}

// IsZero reports whether t is the zero reading.
func (t Timestamp) IsZero() bool { return t == Timestamp{} }

// String formats t as "wall.logical.node" with fixed-width numbers, so that
// strings sort as timestamps do (for nodes of one length).
func (t Timestamp) String() string {
	return fmt.Sprintf("%013d.%010d.%s", t.Wall, t.Logical, t.Node)
}

// ParseTimestamp reads a Timestamp's String.
func ParseTimestamp(s string) (Timestamp, error) {
	w, rest, ok1 := strings.Cut(s, ".")
	l, node, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 {
		return Timestamp{}, fmt.Errorf("timestamp %q is not wall.logical.node", s)
	}
	wall, err := strconv.ParseInt(w, 10, 64)
	if err != nil || wall < 0 {
		return Timestamp{}, fmt.Errorf("timestamp %q: wall %q is not a non-negative integer", s, w)
	}
	logical, err := strconv.ParseUint(l, 10, 32)
	if err != nil {
		return Timestamp{}, fmt.Errorf("timestamp %q: logical %q is not a 32-bit unsigned integer", s, l)
	}
	if err := validNode(node); err != nil {
		return Timestamp{}, fmt.Errorf("timestamp %q: %w", s, err)
	}
	return Timestamp{Wall: wall, Logical: uint32(logical), Node: node}, nil
}

func validNode(node string) error {
	if node == "" || len(node) > 64 {
		return fmt.Errorf("node must be 1 to 64 bytes, got %d", len(node))
	}
	for _, r := range node {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("node %q may hold only letters, digits, '-' and '_'", node)
		}
	}
	return nil
}

// MarshalJSON writes t as its String.
func (t Timestamp) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

// UnmarshalJSON reads t from its String.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return fmt.Errorf("timestamp must not be null")
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp must be a string: %w", err)
	}
	v, err := ParseTimestamp(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// MaxDrift is how far ahead of this node's wall clock a remote reading may
// be. A change from further in the future is refused (quarantined): taking
// it would drag this node's clock, and every later write's, along with it.
const MaxDrift = 5 * time.Minute

// Clock is a hybrid logical clock (Kulkarni et al.): readings never go
// backwards, follow the wall clock when it moves, and stay ahead of every
// reading observed from other nodes. Safe for concurrent use.
type Clock struct {
	node string
	wall func() time.Time

	mu   sync.Mutex
	last Timestamp
}

// NewClock returns a clock for node reading wall (time.Now when nil).
func NewClock(node string, wall func() time.Time) *Clock {
	if wall == nil {
		wall = time.Now
	}
	return &Clock{node: node, wall: wall}
}

// Now returns a reading later than every earlier reading and observed one.
func (c *Clock) Now() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.wall().UnixMilli()
	if w > c.last.Wall {
		c.last = Timestamp{Wall: w, Node: c.node}
	} else {
		c.last = Timestamp{Wall: c.last.Wall, Logical: c.last.Logical + 1, Node: c.node}
	}
	return c.last
}

// Observe moves the clock past a remote reading. It refuses one more than
// MaxDrift ahead of the wall clock.
func (c *Clock) Observe(t Timestamp) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ahead := time.Duration(t.Wall-c.wall().UnixMilli()) * time.Millisecond; ahead > MaxDrift {
		return fmt.Errorf("timestamp %s is %s ahead of this node's clock (at most %s)", t, ahead.Round(time.Second), MaxDrift)
	}
	if t.Wall > c.last.Wall || (t.Wall == c.last.Wall && t.Logical > c.last.Logical) {
		c.last = Timestamp{Wall: t.Wall, Logical: t.Logical, Node: c.node}
	}
	return nil
}

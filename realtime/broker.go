package realtime

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/wedsync/integrations/internal/validate"
)

// Publication is one broadcast in a topic's history.
type Publication struct {
	// Topic is the topic name without the "realtime:" prefix.
	Topic string
	// Event is the broadcast's event name, such as "kpi.updated".
	Event string
	// Payload is the broadcast's JSON payload, byte for byte.
	Payload json.RawMessage
	// Epoch names the history stream Offset counts in. It changes when a
	// broker loses its history (a memory broker restarts), so that offsets
	// from before can never be mistaken for offsets after.
	Epoch string
	// Offset is 1 for a topic's first publication in an epoch and grows by
	// one for each next one.
	Offset uint64
	// Time is when the broker accepted the publication; per topic it never
	// goes backwards.
	Time time.Time
	// Origin is an opaque id of the hub channel that sent it, empty for the
	// host's Hub.Broadcast; a hub uses it to honour broadcast.self.
	Origin string
}

// ID is the publication's meta.id: "<epoch>:<offset>".
func (p Publication) ID() string { return p.Epoch + ":" + strconv.FormatUint(p.Offset, 10) }

// HistoryQuery selects publications of one topic. With After set, it asks
// for the publications after that offset of Epoch; otherwise for those at or
// after Since.
type HistoryQuery struct {
	Since time.Time
	After uint64
	Epoch string
	// Limit caps the number returned; 0 means no cap beyond the broker's
	// history size. When more match, the result is not Complete.
	Limit int
}

// HistoryResult is what a broker has for a HistoryQuery.
type HistoryResult struct {
	// Publications match the query, oldest first.
	Publications []Publication
	// Complete reports that Publications hold every publication the query
	// asks for: nothing that matches was trimmed (by size or age), lost
	// with an earlier epoch, or left out by Limit. A hub never replays an
	// incomplete result; it tells the client to reload instead.
	Complete bool
	// Epoch and Latest are the topic's current epoch and newest offset
	// (0 when it has none).
	Epoch  string
	Latest uint64
}

// BrokerHandler receives what a broker delivers. A broker calls it from
// one goroutine per topic at most, in offset order per topic; it must not
// block.
type BrokerHandler interface {
	// OnPublication is called for every publication of every topic, by
	// any hub instance attached to the same broker (this one included).
	OnPublication(Publication)
	// OnResync is called when publications may have been missed (a
	// Postgres broker lost its LISTEN connection); the handler reads
	// History for the topics it serves to fill the gap.
	OnResync()
}

// Broker carries publications between hub instances and keeps each topic's
// bounded history, after centrifuge's Broker. The memory broker serves one
// process; the Postgres broker serves every instance that shares the
// database, and its history survives a restart.
//
// The contract: Publish assigns the next offset of the topic, stores the
// publication in history before any handler sees it, and delivers it to the
// handler of every attached hub, in offset order per topic. A Publish that
// returns an error did not publish, unless the error matches
// ErrPublishOutcomeUnknown (then it may have). History answers
// from the same store, so a hub that reads History and then drops the live
// publications it already has never misses or repeats one. A History read
// never creates a topic (clients can cause reads). realtimetest.BrokerSuite
// checks an implementation against this contract.
type Broker interface {
	Publish(ctx context.Context, topic, event string, payload json.RawMessage, origin string) (Publication, error)
	History(ctx context.Context, topic string, q HistoryQuery) (HistoryResult, error)
	// Attach sets the handler; a broker serves one hub and refuses a
	// second Attach, or a nil handler, with an error.
	Attach(h BrokerHandler) error
	// Close stops deliveries: no handler call starts after it returns,
	// and Publish, History and Attach return ErrBrokerClosed. A second
	// Close does nothing. It does not close what the host passed in (such
	// as a pool).
	Close() error
}

// ErrBrokerClosed is returned by a broker used after Close.
var ErrBrokerClosed = errors.New("realtime: broker closed")

// ErrPublishOutcomeUnknown is matched (errors.Is) by a Publish or
// Hub.Broadcast error when the broker cannot say whether the publication
// was published: with the Postgres broker, the caller's context ended
// after the publication's transaction had started, or the transaction was
// cut off before the database answered. It may commit, take its offset
// and reach every subscriber, or not; retrying may publish it twice. Any
// other error from Publish means it was not published and never will be.
// The memory broker never returns it.
var ErrPublishOutcomeUnknown = errors.New("realtime: publish outcome unknown: it may have been published")

type brokerOptions struct {
	sharedOptions
	historySize int
	historyTTL  time.Duration
}

func defaultBrokerOptions() brokerOptions {
	return brokerOptions{sharedOptions: defaultSharedOptions(), historySize: 1000, historyTTL: time.Hour}
}

// WithHistorySize caps how many publications each topic keeps for replay.
// Defaults to 1000.
func WithHistorySize(n int) BrokerOption {
	return brokerOption(func(o *brokerOptions) { o.historySize = n })
}

// WithHistoryTTL caps how long a publication stays in history. Defaults to
// one hour.
func WithHistoryTTL(d time.Duration) BrokerOption {
	return brokerOption(func(o *brokerOptions) { o.historyTTL = d })
}

// validate reports every bad option at once.
func (o brokerOptions) validate() error {
	c := validate.NewChecker(pkg)
	c.Check(o.historySize >= 1, "WithHistorySize", "must be at least 1, got %d", o.historySize)
	c.Check(o.historyTTL > 0, "WithHistoryTTL", "must be positive, got %s", o.historyTTL)
	o.sharedOptions.validate(c)
	return c.Err()
}

// MemoryBroker is the in-process Broker: history lives in this process and
// is lost on exit (a new epoch then tells clients to reload).
type MemoryBroker struct {
	opts    brokerOptions
	epoch   string
	started time.Time

	mu      sync.Mutex
	topics  map[string]*memTopic
	handler BrokerHandler
	closed  bool
}

type memTopic struct {
	mu   sync.Mutex
	pubs []Publication // oldest first
	last uint64
	// lastTime is the newest publication's time, so times never go back.
	lastTime time.Time
	// trimmedTime and trimmedOffset describe the newest publication that
	// left history; zero when none did.
	trimmedTime   time.Time
	trimmedOffset uint64
}

// NewMemoryBroker returns an in-process broker. Options: WithHistorySize,
// WithHistoryTTL, and the shared WithClock (which stamps publications and
// ages history).
func NewMemoryBroker(opts ...BrokerOption) (*MemoryBroker, error) {
	o := defaultBrokerOptions()
	for _, opt := range opts {
		if opt != nil {
			opt.applyBroker(&o)
		}
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &MemoryBroker{opts: o, epoch: newEpoch(), started: o.clock.Now().Truncate(time.Millisecond), topics: map[string]*memTopic{}}, nil
}

// newEpoch returns a short random epoch name.
func newEpoch() string { return rand.Text()[:8] }

// Attach implements Broker.
func (b *MemoryBroker) Attach(h BrokerHandler) error {
	if h == nil {
		return errors.New("realtime: Attach: handler must not be nil")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBrokerClosed
	}
	if b.handler != nil {
		return errors.New("realtime: broker already has a hub attached")
	}
	b.handler = h
	return nil
}

// Close implements Broker.
func (b *MemoryBroker) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// topic returns the named topic, creating it only when create is set:
// reads (which clients can cause) never grow the map.
func (b *MemoryBroker) topic(name string, create bool) (*memTopic, BrokerHandler, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, ErrBrokerClosed
	}
	t := b.topics[name]
	if t == nil && create {
		t = &memTopic{}
		b.topics[name] = t
	}
	return t, b.handler, nil
}

// Publish implements Broker. The handler runs before Publish returns.
func (b *MemoryBroker) Publish(ctx context.Context, topic, event string, payload json.RawMessage, origin string) (Publication, error) {
	if err := ctx.Err(); err != nil {
		return Publication{}, err
	}
	t, h, err := b.topic(topic, true)
	if err != nil {
		return Publication{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := b.opts.clock.Now()
	if now.Before(t.lastTime) {
		now = t.lastTime
	}
	t.last++
	p := Publication{Topic: topic, Event: event, Payload: payload, Epoch: b.epoch, Offset: t.last, Time: now, Origin: origin}
	t.lastTime = now
	t.pubs = append(t.pubs, p)
	b.trim(t, now)
	if h != nil {
		h.OnPublication(p)
	}
	return p, nil
}

// trim drops what is over the size cap or older than the TTL.
func (b *MemoryBroker) trim(t *memTopic, now time.Time) {
	drop := 0
	if over := len(t.pubs) - b.opts.historySize; over > 0 {
		drop = over
	}
	cutoff := now.Add(-b.opts.historyTTL)
	for drop < len(t.pubs) && t.pubs[drop].Time.Before(cutoff) {
		drop++
	}
	if drop == 0 {
		return
	}
	t.trimmedTime = t.pubs[drop-1].Time
	t.trimmedOffset = t.pubs[drop-1].Offset
	// Copy down so the backing array does not keep dropped payloads.
	n := copy(t.pubs, t.pubs[drop:])
	clear(t.pubs[n:])
	t.pubs = t.pubs[:n]
}

// History implements Broker.
func (b *MemoryBroker) History(ctx context.Context, topic string, q HistoryQuery) (HistoryResult, error) {
	if err := ctx.Err(); err != nil {
		return HistoryResult{}, err
	}
	t, _, err := b.topic(topic, false)
	if err != nil {
		return HistoryResult{}, err
	}
	if t == nil {
		// Never published since the broker started: complete for any
		// moment since then, and no offset of this epoch to continue from.
		complete := !q.Since.Before(b.started) && q.After == 0 && (q.Epoch == "" || q.Epoch == b.epoch)
		return HistoryResult{Epoch: b.epoch, Complete: complete}, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	b.trim(t, b.opts.clock.Now())
	res := HistoryResult{Epoch: b.epoch, Latest: t.last, Complete: true}
	var from int
	if q.After > 0 || q.Epoch != "" {
		if q.Epoch != b.epoch {
			res.Complete = false
			return res, nil
		}
		if t.trimmedOffset > q.After {
			res.Complete = false
			return res, nil
		}
		from = len(t.pubs)
		for i, p := range t.pubs {
			if p.Offset > q.After {
				from = i
				break
			}
		}
	} else {
		// The broker knows nothing from before it started (to the
		// millisecond, the resolution of replay.since), nor what it
		// trimmed at or after Since.
		if q.Since.Before(b.started) || (!t.trimmedTime.IsZero() && !q.Since.After(t.trimmedTime)) {
			res.Complete = false
			return res, nil
		}
		from = len(t.pubs)
		for i, p := range t.pubs {
			if !p.Time.Before(q.Since) {
				from = i
				break
			}
		}
	}
	n := len(t.pubs) - from
	if q.Limit > 0 && n > q.Limit {
		res.Complete = false
		return res, nil
	}
	res.Publications = append([]Publication(nil), t.pubs[from:]...)
	return res, nil
}

package wedmesync

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/wedsync/integrations/internal/telemetry"
)

// Metric and attribute names; docs/telemetry.md lists them.
const (
	metricChanges  = "wedsync.wedmesync.changes"
	metricRecorded = "wedsync.wedmesync.recorded"
	metricLag      = "wedsync.wedmesync.peer.lag"

	attrSide    = attribute.Key("wedsync.wedmesync.side")
	attrOutcome = attribute.Key("wedsync.outcome")
	attrPeer    = attribute.Key("wedsync.wedmesync.peer")
)

type metrics struct {
	changes  metric.Int64Counter
	recorded metric.Int64Counter

	mu    sync.Mutex
	peers []*Peer
}

func newMetrics(mp metric.MeterProvider, side Side) *metrics {
	tel := telemetry.New("wedmesync", mp, nil)
	m := &metrics{
		changes: tel.Counter(metricChanges, "{change}",
			"Changes from the other side, by this node's side and outcome: applied, duplicate (already applied), conflicted (applied, with manual fields kept for a person), quarantined."),
		recorded: tel.Counter(metricRecorded, "{change}", "Changes recorded on this side (Record, RecordTx), by side."),
	}
	_, err := tel.Meter.Float64ObservableGauge(metricLag, metric.WithUnit("s"),
		metric.WithDescription("Seconds since each peer last completed a sync with the other side (0 before the first)."),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range m.peers {
				o.Observe(p.Lag().Seconds(), metric.WithAttributes(attrSide.String(string(side)), attrPeer.String(p.name)))
			}
			return nil
		}))
	tel.Check(err)
	telemetry.Handle(tel.Err())
	return m
}

func (m *metrics) addPeer(p *Peer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.peers = append(m.peers, p)
}

package calendar

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/wedsync/integrations/internal/jobs"
	"github.com/wedsync/integrations/internal/telemetry"
)

// Metric and attribute names; docs/telemetry.md lists them for operators.
const (
	metricSyncs      = "wedsync.calendar.syncs"
	metricApplied    = "wedsync.calendar.events.applied"
	metricWrites     = "wedsync.calendar.writes"
	metricCalls      = "wedsync.calendar.provider.duration"
	metricConflicts  = "wedsync.calendar.conflicts"
	metricRefused    = "wedsync.calendar.bookings.refused"
	metricQueueDepth = "wedsync.calendar.queue.depth"

	attrProvider = attribute.Key("wedsync.calendar.provider")
	attrOp       = attribute.Key("wedsync.calendar.op")
	attrKind     = attribute.Key("wedsync.calendar.kind")
	attrOutcome  = attribute.Key("wedsync.outcome")
	attrError    = attribute.Key("error.type")
)

type metrics struct {
	tel       *telemetry.Telemetry
	syncs     metric.Int64Counter
	applied   metric.Int64Counter
	writes    metric.Int64Counter
	calls     metric.Float64Histogram
	conflicts metric.Int64Counter
	refused   metric.Int64Counter
	observing atomic.Bool
}

func newMetrics(mp metric.MeterProvider, tp trace.TracerProvider) *metrics {
	tel := telemetry.New("calendar", mp, tp)
	m := &metrics{
		tel:   tel,
		syncs: tel.Counter(metricSyncs, "{sync}", "Syncs of a connection, by provider, kind (incremental, full) and outcome (ok, failed, superseded)."),
		applied: tel.Counter(metricApplied, "{event}",
			"Provider events a sync applied, by kind: busy (the supplier's event stored as busy time), removed, echo (the engine's own write coming back, skipped), restored (a booking's event edited or deleted in the calendar, written again), adopted (an event with a booking's tag and no mapping, mapped to its booking)."),
		writes:    tel.Counter(metricWrites, "{write}", "Writes of bookings to calendars, by op (create, update, delete) and outcome (ok, retrying, failed, merged, adopted)."),
		calls:     tel.Histogram(metricCalls, "Duration of provider calls, by provider, op and error.type (absent on success)."),
		conflicts: tel.Counter(metricConflicts, "{conflict}", "Calendar events found overlapping a booking or hold while syncing."),
		refused:   tel.Counter(metricRefused, "{booking}", "Bookings and holds refused because they overlap another (the exclusion constraint or the memory check)."),
	}
	telemetry.Handle(tel.Err())
	return m
}

func (m *metrics) observeQueue(q jobs.Queue) {
	m.tel.QueueDepth(metricQueueDepth, "Calendar jobs not yet finished, by state: due, scheduled (periodic syncs, retries) or running.", &m.observing,
		func(ctx context.Context) (int64, int64, int64, error) {
			st, err := q.Stats(ctx)
			return st.Due, st.Scheduled, st.Running, err
		})
}

func (m *metrics) synced(ctx context.Context, provider string, full bool, outcome string) {
	kind := "incremental"
	if full {
		kind = "full"
	}
	m.syncs.Add(ctx, 1, metric.WithAttributes(attrProvider.String(provider), attrKind.String(kind), attrOutcome.String(outcome)))
}

func (m *metrics) appliedN(ctx context.Context, kind string, n int) {
	if n > 0 {
		m.applied.Add(ctx, int64(n), metric.WithAttributes(attrKind.String(kind)))
	}
}

func (m *metrics) wrote(ctx context.Context, op, outcome string) {
	m.writes.Add(ctx, 1, metric.WithAttributes(attrOp.String(op), attrOutcome.String(outcome)))
}

// call makes one provider call inside a client span, and times it.
func (m *metrics) call(ctx context.Context, provider, op, conn string, fn func(ctx context.Context) error) (time.Duration, error) {
	ctx, span := m.tel.Tracer.Start(ctx, "calendar "+op+" "+provider, trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(attrProvider.String(provider), attrOp.String(op), attribute.String("wedsync.calendar.connection", conn))
	}
	start := time.Now()
	err := fn(ctx)
	d := time.Since(start)
	attrs := []attribute.KeyValue{attrProvider.String(provider), attrOp.String(op)}
	if err != nil {
		attrs = append(attrs, attrError.String(errorType(err)))
		span.SetStatus(codes.Error, errorType(err))
	}
	m.calls.Record(ctx, d.Seconds(), metric.WithAttributes(attrs...))
	span.End()
	return d, err
}

// errorType names an error for error.type without its text.
func errorType(err error) string {
	var pe *ProviderError
	switch {
	case errors.Is(err, ErrPrecondition):
		return "precondition_failed"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrCursorInvalid):
		return "cursor_invalid"
	case errors.Is(err, ErrUnauthorized):
		return "unauthorized"
	case errors.As(err, &pe) && pe.Status == 429:
		return "rate_limited"
	case errors.As(err, &pe) && pe.Status >= 500:
		return "server_error"
	}
	return telemetry.ErrorType(err)
}

package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wedsync/integrations/internal/attempt"
	"github.com/wedsync/integrations/webhook"
)

// secretEntry is one signing secret; Expires is zero for the current one.
type secretEntry struct {
	Secret  string    `json:"s"`
	Expires time.Time `json:"x,omitzero"`
}

func (m *Manager) seal(id string, secrets []secretEntry) []byte {
	b, _ := json.Marshal(secrets)
	return m.keys.Seal(b, []byte(id))
}

func (m *Manager) open(id string, sealed []byte) ([]secretEntry, error) {
	b, err := m.keys.Open(sealed, []byte(id))
	if err != nil {
		return nil, fmt.Errorf("delivery: endpoint %s secrets: %w", id, err)
	}
	var s []secretEntry
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("delivery: endpoint %s secrets: %w", id, err)
	}
	return s, nil
}

func (m *Manager) validateURL(u string) error {
	if u == "" {
		return invalid("url", "is required")
	}
	if len(u) > 2048 {
		return invalid("url", "must be at most 2048 characters")
	}
	if err := m.net.CheckURL(u); err != nil {
		return invalid("url", "%s", strings.TrimPrefix(err.Error(), "url: "))
	}
	return nil
}

// validateRate checks an endpoint's rate limit: 0 (none) or at least one
// delivery a minute, so that a limit cannot silently stop an endpoint.
func validateRate(r float64) error { return attempt.ValidateRate("delivery", "rate_limit", r) }

// CreateEndpoint registers a URL for a supplier and generates its signing
// secret (32 random bytes, shown by EndpointSecret).
func (m *Manager) CreateEndpoint(ctx context.Context, in EndpointInput) (*Endpoint, error) {
	if err := validateSupplier(in.SupplierID); err != nil {
		return nil, err
	}
	if err := m.validateURL(in.URL); err != nil {
		return nil, err
	}
	if err := validateFilters(in.EventTypes); err != nil {
		return nil, err
	}
	if err := validateRate(in.RateLimit); err != nil {
		return nil, err
	}
	if len(in.Description) > maxDescription {
		return nil, invalid("description", "must be at most %d bytes", maxDescription)
	}
	secret, err := webhook.GenerateSecret()
	if err != nil {
		return nil, err
	}
	now := m.o.clock.Now()
	row := &endpointRow{Endpoint: Endpoint{
		ID: newID("ep_"), SupplierID: in.SupplierID, URL: in.URL, Description: in.Description,
		EventTypes: slices.Clone(in.EventTypes), Status: EndpointEnabled, RateLimit: in.RateLimit,
		CreatedAt: now, UpdatedAt: now,
	}}
	if row.EventTypes == nil {
		row.EventTypes = []string{}
	}
	row.Sealed = m.seal(row.ID, []secretEntry{{Secret: secret}})
	if err := m.store.insertEndpoint(ctx, row); err != nil {
		return nil, err
	}
	ep := row.Endpoint
	return &ep, nil
}

// GetEndpoint returns an endpoint by id.
func (m *Manager) GetEndpoint(ctx context.Context, id string) (*Endpoint, error) {
	row, err := m.store.getEndpoint(ctx, id)
	if err != nil {
		return nil, err
	}
	return &row.Endpoint, nil
}

// ListEndpoints returns a supplier's endpoints ordered by id.
func (m *Manager) ListEndpoints(ctx context.Context, supplierID string) ([]*Endpoint, error) {
	rows, err := m.store.listEndpoints(ctx, supplierID)
	if err != nil {
		return nil, err
	}
	out := make([]*Endpoint, len(rows))
	for i, r := range rows {
		out[i] = &r.Endpoint
	}
	return out, nil
}

// UpdateEndpoint changes an endpoint's URL, description, filter or rate.
func (m *Manager) UpdateEndpoint(ctx context.Context, id string, u EndpointUpdate) (*Endpoint, error) {
	if u.URL != nil {
		if err := m.validateURL(*u.URL); err != nil {
			return nil, err
		}
	}
	if u.EventTypes != nil {
		if err := validateFilters(*u.EventTypes); err != nil {
			return nil, err
		}
	}
	if u.RateLimit != nil {
		if err := validateRate(*u.RateLimit); err != nil {
			return nil, err
		}
	}
	if u.Description != nil && len(*u.Description) > maxDescription {
		return nil, invalid("description", "must be at most %d bytes", maxDescription)
	}
	return m.update(ctx, id, func(ep *endpointRow) error {
		if u.URL != nil {
			ep.URL = *u.URL
		}
		if u.Description != nil {
			ep.Description = *u.Description
		}
		if u.EventTypes != nil {
			ep.EventTypes = append([]string{}, (*u.EventTypes)...)
		}
		if u.RateLimit != nil {
			ep.RateLimit = *u.RateLimit
		}
		return nil
	})
}

func (m *Manager) update(ctx context.Context, id string, fn func(ep *endpointRow) error) (*Endpoint, error) {
	row, err := m.store.updateEndpoint(ctx, id, func(ep *endpointRow) error {
		if err := fn(ep); err != nil {
			return err
		}
		ep.UpdatedAt = m.o.clock.Now()
		return nil
	})
	m.forget(id)
	if err != nil {
		return nil, err
	}
	return &row.Endpoint, nil
}

// DeleteEndpoint removes an endpoint; its queued deliveries are dropped.
// The attempt log keeps its rows until retention removes them.
func (m *Manager) DeleteEndpoint(ctx context.Context, id string) error {
	err := m.store.deleteEndpoint(ctx, id)
	m.forget(id)
	if err == nil {
		m.guards.Reset(id)
	}
	return err
}

// PauseEndpoint holds deliveries to an endpoint; they wait, and go out after
// ResumeEndpoint (each host instance notices within a minute).
func (m *Manager) PauseEndpoint(ctx context.Context, id string) (*Endpoint, error) {
	return m.update(ctx, id, func(ep *endpointRow) error {
		if ep.Status == EndpointEnabled {
			ep.Status = EndpointPaused
		}
		return nil
	})
}

// ResumeEndpoint enables a paused or disabled endpoint and clears its
// failure history. Messages that failed while it was disabled are not resent
// by themselves: call Recover.
func (m *Manager) ResumeEndpoint(ctx context.Context, id string) (*Endpoint, error) {
	ep, err := m.update(ctx, id, func(ep *endpointRow) error {
		ep.Status = EndpointEnabled
		ep.DisabledReason = ""
		ep.FailingSince = time.Time{}
		return nil
	})
	if err == nil {
		m.guards.Reset(id) // a fresh breaker
	}
	return ep, err
}

// EndpointSecret returns the current signing secret (whsec_...) for the
// vendor to configure in their verifier.
func (m *Manager) EndpointSecret(ctx context.Context, id string) (string, error) {
	row, err := m.store.getEndpoint(ctx, id)
	if err != nil {
		return "", err
	}
	secrets, err := m.open(id, row.Sealed)
	if err != nil {
		return "", err
	}
	return secrets[0].Secret, nil
}

// RotateSecret makes a new signing secret current and returns it. The old
// one keeps signing alongside it for the grace period (24 hours by default,
// see WithRotationGrace), so the vendor can switch without losing a message.
func (m *Manager) RotateSecret(ctx context.Context, id string) (string, error) {
	secret, err := webhook.GenerateSecret()
	if err != nil {
		return "", err
	}
	_, err = m.update(ctx, id, func(ep *endpointRow) error {
		old, err := m.open(id, ep.Sealed)
		if err != nil {
			return err
		}
		now := m.o.clock.Now()
		next := []secretEntry{{Secret: secret}}
		for _, s := range old {
			if s.Expires.IsZero() {
				s.Expires = now.Add(m.o.rotationGrace)
			}
			if s.Expires.After(now) {
				next = append(next, s)
			}
		}
		ep.Sealed = m.seal(id, next)
		return nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// disable marks an endpoint disabled with a reason.
func (m *Manager) disable(ctx context.Context, id, reason string) {
	_, err := m.update(ctx, id, func(ep *endpointRow) error {
		ep.Status = EndpointDisabled
		ep.DisabledReason = reason
		return nil
	})
	if err != nil {
		m.o.logger.Warn("webhook: could not disable endpoint", "endpoint", id, "err", err)
		return
	}
	m.o.logger.Warn("webhook: endpoint disabled", "endpoint", id, "reason", reason)
}

// cachedEndpoint is an endpoint with its ready signer.
type cachedEndpoint struct {
	ep      Endpoint
	signer  *webhook.Signer
	fetched time.Time
}

func (m *Manager) forget(id string) {
	m.mu.Lock()
	delete(m.cache, id)
	m.mu.Unlock()
}

// endpoint returns the cached endpoint, refreshing it after the TTL.
func (m *Manager) endpoint(ctx context.Context, id string) (*cachedEndpoint, error) {
	now := m.o.clock.Now()
	m.mu.Lock()
	c := m.cache[id]
	m.mu.Unlock()
	if c != nil && now.Sub(c.fetched) < m.o.endpointTTL {
		return c, nil
	}
	row, err := m.store.getEndpoint(ctx, id)
	if err != nil {
		if err == ErrNotFound {
			m.forget(id)
		}
		return nil, err
	}
	secrets, err := m.open(id, row.Sealed)
	if err != nil {
		return nil, err
	}
	var extra []string
	for _, s := range secrets[1:] {
		if s.Expires.After(now) {
			extra = append(extra, s.Secret)
		}
	}
	signer, err := webhook.NewSigner(secrets[0].Secret, webhook.WithAdditionalSecrets(extra...))
	if err != nil {
		return nil, fmt.Errorf("delivery: endpoint %s: %w", id, err)
	}
	c = &cachedEndpoint{ep: row.Endpoint, signer: signer, fetched: now}
	if len(extra) > 0 {
		// Re-read when the earliest old secret expires.
		for _, s := range secrets[1:] {
			if s.Expires.After(now) && s.Expires.Sub(now) < m.o.endpointTTL {
				c.fetched = s.Expires.Add(-m.o.endpointTTL)
			}
		}
	}
	m.mu.Lock()
	m.cache[id] = c
	m.mu.Unlock()
	return c, nil
}

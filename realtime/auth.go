package realtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Principal is who a token speaks for.
type Principal struct {
	// Subject is the token's sub claim.
	Subject string
	// SupplierID is the supplier the principal acts for; empty for a
	// token that carries none (such as an anon key).
	SupplierID string
	// Role is the token's role claim ("authenticated", "anon", "service_role").
	Role string
	// ExpiresAt is when the token stops being valid; zero means never.
	ExpiresAt time.Time
	// Claims are all the token's claims, for a host Authorizer.
	Claims map[string]any
}

// Authenticator turns a token into a Principal. It returns an error that
// wraps ErrUnauthenticated for a token it refuses.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*Principal, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, token string) (*Principal, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, token string) (*Principal, error) {
	return f(ctx, token)
}

// Authorizer decides what a principal may do on a topic. Topics are names
// without the "realtime:" prefix, such as "supplier:42". Errors should wrap
// ErrForbidden; their text reaches the client as the reply's reason.
type Authorizer interface {
	// AuthorizeJoin decides whether p may join topic (and so read it).
	AuthorizeJoin(ctx context.Context, p *Principal, topic string) error
	// AuthorizeBroadcast decides whether p may send event on topic.
	AuthorizeBroadcast(ctx context.Context, p *Principal, topic, event string) error
}

// Authentication and authorisation errors.
var (
	ErrUnauthenticated = errors.New("realtime: unauthenticated")
	ErrForbidden       = errors.New("realtime: forbidden")
)

// SupplierAuthorizer is the default Authorizer: a principal may join
// "supplier:<id>" and "supplier:<id>:<anything>" for its own SupplierID and
// nothing else; a SupplierID containing ":" is refused, since it would make
// topics of different suppliers overlap. Client broadcasts are refused
// unless AllowClientBroadcast is set, and then only on topics the principal
// may join.
type SupplierAuthorizer struct {
	AllowClientBroadcast bool
}

// SupplierTopic returns the topic of a supplier's dashboard: "supplier:<id>".
func SupplierTopic(supplierID string) string { return "supplier:" + supplierID }

// AuthorizeJoin implements Authorizer.
func (a SupplierAuthorizer) AuthorizeJoin(_ context.Context, p *Principal, topic string) error {
	if p == nil || p.SupplierID == "" {
		return fmt.Errorf("%w: the token names no supplier (claim app_metadata.supplier_id)", ErrForbidden)
	}
	if strings.Contains(p.SupplierID, ":") {
		// "supplier:1" owns "supplier:1:x", which is also the topic of a
		// supplier named "1:x": a colon in an id would cross tenants.
		return fmt.Errorf("%w: supplier id %q contains a colon", ErrForbidden, p.SupplierID)
	}
	own := SupplierTopic(p.SupplierID)
	if topic == own || strings.HasPrefix(topic, own+":") {
		return nil
	}
	return fmt.Errorf("%w: supplier %s may not join topic %q", ErrForbidden, p.SupplierID, topic)
}

// AuthorizeBroadcast implements Authorizer.
func (a SupplierAuthorizer) AuthorizeBroadcast(ctx context.Context, p *Principal, topic, event string) error {
	if !a.AllowClientBroadcast {
		return fmt.Errorf("%w: clients may not broadcast on %q", ErrForbidden, topic)
	}
	return a.AuthorizeJoin(ctx, p, topic)
}

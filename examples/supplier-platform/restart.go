package main

// Postgres mode survives a restart: what the database keeps (endpoints,
// messages, the attempt log, queued retries, the hub's history) is only
// of use if the restarted server can read it and be reached as before.
// Two things would otherwise change with each start: the secrets and
// tokens generated at random, and the in-process vendor CRM.

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/wedsync/integrations/webhook/delivery"
)

// derive returns n bytes derived from the encryption key for purpose
// (HKDF-SHA256, the purpose as the info string): independent of one another
// and of the key, which they do not reveal. In Postgres mode the tokens and
// the JWT secret that are not set come from here instead of from the
// random source, so that they are the same after a restart: an open page
// keeps its tokens, and its dashboard can rejoin and replay what it
// missed. Whoever holds the key could compute them, but that key already
// opens every secret the demo keeps.
func derive(encKey []byte, purpose string, n int) []byte {
	b, err := hkdf.Key(sha256.New, encKey, nil, "wedsync supplier-platform demo: "+purpose, n)
	if err != nil {
		panic("demo: derive " + purpose + ": " + err.Error()) // only for n > 255*32
	}
	return b
}

// derivedToken is a bearer token of the same shape as rand.Text's (26
// base32 characters, 128 bits).
func derivedToken(encKey []byte, purpose string) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(derive(encKey, purpose, 16))
}

// derivedJWTSecret is a dashboard-token secret as jwtSecret generates one
// (32 bytes as 64 hex characters).
func derivedJWTSecret(encKey []byte) string {
	return hex.EncodeToString(derive(encKey, "dashboard token secret", 32))
}

// demoHookSuppliers are the suppliers whose endpoints the demo registers on
// the vendor CRM's hooks (the page registers its endpoints for them too).
var demoHookSuppliers = []string{demoSupplier, demoCaterer}

// keepEndpoints runs at start-up in Postgres mode, before the manager
// starts. The endpoints an earlier run registered on the vendor CRM's hooks
// are still in the database, and so are the deliveries still due to them.
// The vendor CRM stands for a third party, which would have kept running
// and kept the secrets it was given; in the demo it restarts with the
// server, on another port unless -vendor-addr names one. So each such
// endpoint's hook gets its secret back (which the restarted manager can
// only open with the same WEDSYNC_ENCRYPTION_KEY), and an endpoint whose
// hook moved is pointed at the vendor's new address: the deliveries that
// were retrying carry on. It returns the endpoints by hook name, for the
// scripted demo to reuse.
func keepEndpoints(ctx context.Context, m *delivery.Manager, v *vendor, out *console) (map[string]*delivery.Endpoint, error) {
	kept := map[string]*delivery.Endpoint{}
	for _, supplier := range demoHookSuppliers {
		eps, err := m.ListEndpoints(ctx, supplier)
		if err != nil {
			return nil, fmt.Errorf("restart: list the endpoints of %s: %w", supplier, err)
		}
		for _, ep := range eps {
			name, ok := v.earlierHook(ep.URL)
			if !ok {
				continue
			}
			moved := ep.URL != v.hookURL(name)
			if moved {
				u := v.hookURL(name)
				updated, err := m.UpdateEndpoint(ctx, ep.ID, delivery.EndpointUpdate{URL: &u})
				if err != nil {
					return nil, fmt.Errorf("restart: point endpoint %s at the vendor CRM's new address: %w", ep.ID, err)
				}
				ep = updated
			}
			secret, err := m.EndpointSecret(ctx, ep.ID)
			if err != nil {
				return nil, fmt.Errorf("restart: endpoint %s: %w (was %s the key of the earlier run?)", ep.ID, err, envEncryptionKey)
			}
			if err := v.configure(name, secret, nil, ""); err != nil {
				return nil, err
			}
			out.name(ep.ID, name)
			if supplier == demoSupplier && kept[name] == nil {
				kept[name] = ep
			}
			where := ""
			if moved {
				where = ", at the vendor CRM's new address"
			}
			out.plain("restart: endpoint %s (%s) of %s is kept from an earlier run%s; the vendor CRM has its secret again, and deliveries still due to it carry on",
				name, ep.ID, supplier, where)
		}
	}
	return kept, nil
}

// earlierHook reports whether rawURL is one of this vendor's hooks, on any
// port of its host: an earlier run's vendor listened on the same loopback
// host, perhaps on another port.
func (v *vendor) earlierHook(rawURL string) (string, bool) {
	u, err := url.Parse(rawURL)
	if err != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	base, err := url.Parse(v.base)
	if err != nil || u.Scheme != base.Scheme || u.Hostname() != base.Hostname() {
		return "", false
	}
	name, ok := strings.CutPrefix(u.Path, "/hooks/")
	return name, ok && hookNameRe.MatchString(name)
}

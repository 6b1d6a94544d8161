package netguard_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/wedsync/integrations/internal/netguard"
)

func ExampleIsBlocked() {
	for _, s := range []string{"8.8.8.8", "10.0.0.7", "169.254.169.254", "::ffff:127.0.0.1"} {
		reason, blocked := netguard.IsBlocked(netip.MustParseAddr(s))
		if !blocked {
			fmt.Println(s, "allowed")
			continue
		}
		fmt.Println(s, "blocked:", reason)
	}
	// Output:
	// 8.8.8.8 allowed
	// 10.0.0.7 blocked: private network (RFC 1918)
	// 169.254.169.254 blocked: cloud metadata endpoint
	// ::ffff:127.0.0.1 blocked: IPv4-mapped IPv6 address of a blocked IPv4 address (loopback)
}

func ExampleGuard_CheckURL() {
	g := netguard.New()
	for _, u := range []string{
		"https://hooks.example.com/wedsync",
		"http://hooks.example.com/wedsync",
		"https://admin:secret@hooks.example.com/",
		"https://169.254.169.254/latest/meta-data/",
	} {
		err := g.CheckURL(u)
		fmt.Printf("insecure=%v invalid=%v blocked=%v\n",
			errors.Is(err, netguard.ErrInsecureScheme),
			errors.Is(err, netguard.ErrInvalidURL),
			errors.Is(err, netguard.ErrBlockedAddress))
		if err != nil {
			fmt.Println(" ", err)
		}
	}
	// Output:
	// insecure=false invalid=false blocked=false
	// insecure=true invalid=false blocked=false
	//   url: scheme must be https, got "http": netguard: insecure scheme
	// insecure=false invalid=true blocked=false
	//   url: userinfo is not allowed: netguard: invalid url
	// insecure=false invalid=false blocked=true
	//   url: host must not be a blocked address: netguard: blocked address 169.254.169.254: cloud metadata endpoint
}

func ExampleGuard_Client() {
	srv := httptest.NewServer(http.RedirectHandler("https://elsewhere.example/", http.StatusFound))
	defer srv.Close()

	// Production code calls New() with no options. Tests and demos allow
	// plain http and loopback.
	g := netguard.New(
		netguard.WithAllowHTTP(true),
		netguard.WithAllowedRanges(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")),
	)
	c := g.Client(10 * time.Second)
	defer c.CloseIdleConnections()

	resp, err := c.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Location")) // the redirect is not followed

	_, err = netguard.New(netguard.WithAllowHTTP(true)).Client(10 * time.Second).Get(srv.URL)
	fmt.Println(errors.Is(err, netguard.ErrBlockedAddress))
	// Output:
	// 302 https://elsewhere.example/
	// true
}

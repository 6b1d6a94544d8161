package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wedsync/integrations/webhook"
	"github.com/wedsync/integrations/webhook/delivery"
)

// memoryThroughput is scenario (a): n messages through a memory-mode manager
// against n plain POSTs at the same concurrency.
func memoryThroughput(ctx context.Context, c config, recv *receiver) error {
	body := payload(c.payloadSize)
	fmt.Printf("(a) memory-mode throughput: %d messages, %d workers, one endpoint\n", c.n, c.workers)

	// The manager with a client whose idle pool holds a connection per
	// worker shows what the default client's pool size costs.
	tuned := &http.Client{Transport: plainTransport(c.workers), Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer tuned.CloseIdleConnections()
	var def, tun, pl []measured
	for range c.repeat {
		m, err := memoryManagerRun(ctx, c, recv, body, nil)
		if err != nil {
			return err
		}
		def = append(def, m)
		if m, err = memoryManagerRun(ctx, c, recv, body, tuned); err != nil {
			return err
		}
		tun = append(tun, m)
		if m, err = plainRun(ctx, c, recv, body); err != nil {
			return err
		}
		pl = append(pl, m)
	}
	id := func(m measured) measured { return m }
	mgrDefault, mgrTuned, plain := median(def, id), median(tun, id), median(pl, id)
	pr := rateOf(c.n, plain.d)
	row := func(name string, m measured) []string {
		r := rateOf(c.n, m.d)
		return []string{name, strconv.Itoa(c.n), dur(m.d), f0(r), m.cpuShare(), f2(r / pr)}
	}
	fmt.Println()
	table(fmt.Sprintf("(a) memory mode, %d workers, payload %d B, verify %s%s", c.workers, c.payloadSize, onOff(c.verify), medianOf(c.repeat)),
		[]string{"sender", "messages", "time", "msgs/s", "CPU", "x plain"},
		[][]string{
			row("manager (default SSRF-safe client)", mgrDefault),
			row(fmt.Sprintf("manager (WithHTTPClient, %d idle conns/host)", c.workers), mgrTuned),
			row(fmt.Sprintf("plain net/http, %d goroutines", c.workers), plain),
		})
	fmt.Println("CPU: this process's share of all cores (sender and receiver) / the whole machine's")
	ratio := rateOf(c.n, mgrDefault.d) / pr
	fmt.Printf("target manager >= 0.5 x plain: %.2f, %s\n\n", ratio, target(ratio >= 0.5))
	return nil
}

// memoryManagerRun sends n messages from one goroutine through a started
// memory-mode manager and times first Send to last logged attempt.
func memoryManagerRun(ctx context.Context, c config, recv *receiver, body []byte, client *http.Client) (measured, error) {
	sink := &hookSink{}
	opts := append(baseOptions(sink), delivery.WithMemoryWorkers(c.workers))
	if client != nil {
		opts = append(opts, delivery.WithHTTPClient(client))
	}
	m, err := delivery.NewManager(opts...)
	if err != nil {
		return measured{}, err
	}
	ep, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_bench", URL: recv.URL})
	if err != nil {
		return measured{}, err
	}
	if err := setVerify(ctx, c, recv, m, ep.ID); err != nil {
		return measured{}, err
	}
	if err := m.Start(ctx); err != nil {
		return measured{}, err
	}
	defer stopWithin(ctx, m.Stop)
	msg := delivery.Message{SupplierID: "sup_bench", EventType: "booking.confirmed", Payload: body}

	// Warm-up: open connections, grow heaps.
	warm := min(1000, c.n/10)
	t := sink.expect(warm)
	for range warm {
		if _, err := m.Send(ctx, msg); err != nil {
			return measured{}, err
		}
	}
	if err := wait(ctx, t, "warm-up"); err != nil {
		return measured{}, err
	}

	before := recv.count.Load()
	t = sink.expect(c.n)
	sp := begin()
	for range c.n {
		if _, err := m.Send(ctx, msg); err != nil {
			return measured{}, err
		}
	}
	if err := wait(ctx, t, "manager"); err != nil {
		return measured{}, err
	}
	d := sp.end()
	if got := recv.count.Load() - before; got < int64(c.n) {
		return measured{}, fmt.Errorf("receiver counted %d of %d requests", got, c.n)
	}
	return d, nil
}

// setVerify points the receiver's verifier at the endpoint's secret when
// -verify is on.
func setVerify(ctx context.Context, c config, recv *receiver, m *delivery.Manager, epID string) error {
	if !c.verify {
		return recv.verify("")
	}
	secret, err := m.EndpointSecret(ctx, epID)
	if err != nil {
		return err
	}
	return recv.verify(secret)
}

func plainTransport(conns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * conns,
		MaxIdleConnsPerHost: 2 * conns,
		IdleConnTimeout:     90 * time.Second,
	}
}

// plainRun POSTs n copies of body with c.workers goroutines.
func plainRun(ctx context.Context, c config, recv *receiver, body []byte) (measured, error) {
	client := &http.Client{Transport: plainTransport(c.workers), Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	var signer *webhook.Signer
	if c.verify {
		secret, err := webhook.GenerateSecret()
		if err != nil {
			return measured{}, err
		}
		if signer, err = webhook.NewSigner(secret); err != nil {
			return measured{}, err
		}
		if err := recv.verify(secret); err != nil {
			return measured{}, err
		}
	} else if err := recv.verify(""); err != nil {
		return measured{}, err
	}
	post := func(i int) error {
		h := http.Header{}
		if signer != nil {
			if err := signer.SetHeaders(h, "msg_plain_"+strconv.Itoa(i), time.Now(), body); err != nil {
				return err
			}
		}
		return plainPost(ctx, client, recv.URL, body, h)
	}
	runN := func(n int) error {
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, c.workers)
		for range c.workers {
			wg.Go(func() {
				for {
					i := int(next.Add(1))
					if i > n {
						return
					}
					if err := post(i); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	if err := runN(min(1000, c.n/10)); err != nil {
		return measured{}, err
	}
	sp := begin()
	if err := runN(c.n); err != nil {
		return measured{}, err
	}
	return sp.end(), nil
}

package realtime

// MemoryTopics counts the topics a memory broker holds, for the broker
// contract suite's check that reads never create one.
func MemoryTopics(b *MemoryBroker) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.topics)
}

// WithConnRemovedHook runs f on a closed socket's goroutine once Stats no
// longer counts the socket.
func WithConnRemovedHook(f func()) Option {
	return hubOption(func(o *hubOptions) { o.hooks.connRemoved = f })
}

// WithQueuedHook runs f, with the frame's bytes, on the goroutine that
// queued a frame to a socket, once the frame is queued and a writer may be
// writing it.
func WithQueuedHook(f func(data []byte)) Option {
	return hubOption(func(o *hubOptions) { o.hooks.queued = f })
}

// ClientKey is what the per-IP limits key a request with this RemoteAddr
// on.
func ClientKey(remoteAddr string) string { return clientKey(remoteAddr) }

// SocketChannels counts the channels on the hub's sockets as the sweep
// sees them (conn.check reads each socket's channels). It takes the hub's
// lock, then each socket's: from a WithQueuedHook hook, which may run
// under a topic's lock, call it only while no channel is leaving (a
// leaving channel's topic takes the hub's lock after its own).
func SocketChannels(h *Hub) int {
	h.mu.Lock()
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	n := 0
	for _, c := range conns {
		c.mu.Lock()
		n += len(c.channels)
		c.mu.Unlock()
	}
	return n
}

// WithPerFrameWrites gives the hub its per-frame writer (one write per
// frame), as the benchmark does through internal/hubwriter.
func WithPerFrameWrites() Option {
	return hubOption(func(o *hubOptions) { o.perFrameWrites = true })
}

// WithDrainingHook runs f on a writer draining a socket each time before
// it takes the socket's queued frames.
func WithDrainingHook(f func()) Option {
	return hubOption(func(o *hubOptions) { o.hooks.draining = f })
}

// WithWroteHook runs f on a writer after each write to a socket, with the
// number of frames the write carried.
func WithWroteHook(f func(frames int)) Option {
	return hubOption(func(o *hubOptions) { o.hooks.wrote = f })
}

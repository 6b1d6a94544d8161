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

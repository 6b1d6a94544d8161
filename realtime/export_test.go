package realtime

// MemoryTopics counts the topics a memory broker holds, for the broker
// contract suite's check that reads never create one.
func MemoryTopics(b *MemoryBroker) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.topics)
}

package delivery

import (
	"context"

	"github.com/wedsync/integrations/internal/jobs"
)

// WaitIdle lets external tests wait until a memory-mode manager has nothing
// due at the current (fake) time.
func WaitIdle(ctx context.Context, m *Manager) error {
	return m.queue.(*jobs.MemoryQueue).WaitIdle(ctx)
}

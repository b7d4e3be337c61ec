package store_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine (a Writer's Run, a scan helper)
// outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

//go:build !unix

package store

import (
	"os"
	"time"
)

// lockExclusive is a no-op where flock is missing; bbolt still locks the file itself.
func lockExclusive(*os.File, time.Duration) error { return nil }

// lockShared is a no-op where flock is missing.
func lockShared(*os.File, time.Duration) error { return nil }

// checkWritable is a no-op where access(2) is missing; Open reports the failure later.
func checkWritable(string) error { return nil }

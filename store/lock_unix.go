//go:build unix

package store

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// lockPoll is how often lockExclusive retries a held lock.
const lockPoll = 25 * time.Millisecond

// lockExclusive takes the same flock bbolt takes, waiting up to timeout. It returns
// errLockTimeout when another process keeps it. Closing f releases the lock.
func lockExclusive(f *os.File, timeout time.Duration) error {
	return lock(f, syscall.LOCK_EX, timeout)
}

// lockShared takes the shared flock bbolt takes in ReadOnly mode, waiting up to
// timeout; it excludes a writer (the daemon), not other readers.
func lockShared(f *os.File, timeout time.Duration) error {
	return lock(f, syscall.LOCK_SH, timeout)
}

func lock(f *os.File, how int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return errLockTimeout
		}
		time.Sleep(lockPoll)
	}
}

// checkWritable reports whether this process may create files in dir, without
// writing anything (access(2) with W_OK; it also reports a read-only mount).
func checkWritable(dir string) error {
	const wOK = 0x2
	return syscall.Access(dir, wOK)
}

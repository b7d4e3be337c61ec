package store

import "errors"

var (
	// ErrLocked is returned by Open when another process holds the store file's lock
	// for longer than Options.Timeout. The returned error wraps it and names the path:
	// "another edgerelay is using <path>".
	ErrLocked = errors.New("store is locked")

	// ErrSchemaNewer is returned by Open when the file was written by a newer
	// edgerelay whose schema this build does not understand. The file is left untouched.
	ErrSchemaNewer = errors.New("store schema is newer than this edgerelay supports")

	// ErrClosed is returned by every DB method after Close, and by Writer.Submit after
	// the writer's Run has returned.
	ErrClosed = errors.New("store is closed")
)

// corruptError marks a failure at Open that means the file is damaged, as opposed to
// a failure of the environment (permissions, lock, memory). Open answers it by moving
// the file aside; it never leaves the package.
type corruptError struct {
	reason string
}

func (e *corruptError) Error() string { return "corrupt store: " + e.reason }

func corrupt(format string, err error) error {
	if err == nil {
		return &corruptError{reason: format}
	}
	return &corruptError{reason: format + ": " + err.Error()}
}

//go:build linux || darwin

package daemon

import "syscall"

// freeBytes returns the space available to unprivileged users on the filesystem of
// dir.
func freeBytes(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(uint64(st.Bavail) * uint64(st.Bsize)), true //nolint:unconvert // the field types differ per platform
}

package pipeline_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// tinyDisk mounts a 2 MiB tmpfs, a real disk that fills up, and returns its path; it
// is unmounted when the test ends. It needs root: without it, or where mount fails,
// the test is skipped on a developer machine and fails under CI, which runs as root
// (adaptertest.Missing).
func tinyDisk(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		adaptertest.Missing(t, "needs root to mount a 2 MiB tmpfs as a disk that fills up")
	}
	dir := filepath.Join(t.TempDir(), "disk")
	require.NoError(t, os.Mkdir(dir, 0o700))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		adaptertest.Missing(t, "cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

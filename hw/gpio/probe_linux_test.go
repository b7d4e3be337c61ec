//go:build linux && !edgerelay_omit_gpio

package gpio

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestIoctlNumber checks the v2 line-info number against the kernel's value,
// 0xC100B405, and the layout the probe sends against the kernel's 256 bytes.
func TestIoctlNumber(t *testing.T) {
	require.EqualValues(t, 256, unsafe.Sizeof(lineInfoV2{}))
	require.EqualValues(t, uint32(0xC100B405), getLineInfoV2)
}

// TestProbeRefusesNonChip: a file that does not answer the v2 ioctl (/dev/null
// answers ENOTTY, as a 5.4 kernel's chip does) is refused before periph sees it,
// with the error that names the kernel version needed.
func TestProbeRefusesNonChip(t *testing.T) {
	err := probeV2([]string{"/dev/null"})
	require.ErrorIs(t, err, errNoV2)
	// The kernel answers ENOTTY; qemu-user, which does not know the ioctl, ENOSYS.
	require.Regexp(t, `^gpio: /dev/null: the kernel lacks the GPIO character device v2 interface \(Linux 5\.10 or later\) \(GPIO_V2_GET_LINEINFO: (inappropriate ioctl for device|function not implemented)\)$`, err.Error())
	// A path that cannot be opened is left to periph (and noChips), not refused.
	require.NoError(t, probeV2([]string{filepath.Join(t.TempDir(), "gpiochip9")}))
	if sim.dev != "" {
		require.NoError(t, probeV2([]string{"/dev/" + sim.chip}))
	}
}

// TestStdinGuard runs the guard in a child process that closes its descriptor 0,
// as periph's GPIOChip.Close does, and checks that /dev/null is back on 0 and the
// next file opened does not get 0.
func TestStdinGuard(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStdin$", "-test.v")
	cmd.Env = append(os.Environ(), "EDGERELAY_GPIO_HELPER=stdin")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "stdin: /dev/null, next fd not 0")
}

// TestHelperStdin is the child process of TestStdinGuard.
func TestHelperStdin(t *testing.T) {
	if os.Getenv("EDGERELAY_GPIO_HELPER") != "stdin" {
		t.Skip("a helper process for TestStdinGuard")
	}
	require.NoError(t, unix.Close(0)) // started closed: the guard fills it first
	restore, err := guardStdin()
	require.NoError(t, err)
	require.True(t, fdOpen(0))
	require.NoError(t, unix.Close(0)) // what periph's scan does on a Pi 5
	require.NoError(t, restore())
	target, err := os.Readlink("/proc/self/fd/0")
	require.NoError(t, err)
	f, err := os.Open(os.Args[0])
	require.NoError(t, err)
	defer f.Close()
	require.NotZero(t, f.Fd())
	require.NoError(t, restore()) // 0 open: nothing to do
	fmt.Printf("stdin: %s, next fd not %d\n", strings.TrimSpace(target), 0)
}

//go:build !edgerelay_omit_gpio

package gpio

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// lineInfoV2 is struct gpio_v2_line_info of linux/gpio.h, 256 bytes: name and
// consumer, the offset asked for, the attribute count, flags, ten 16-byte
// attributes and four words of padding the kernel wants zero.
type lineInfoV2 struct {
	name     [32]byte
	consumer [32]byte
	offset   uint32
	numAttrs uint32
	flags    uint64
	attrs    [10][16]byte
	padding  [4]uint32
}

// ioctlNumber is the kernel's _IOC(dir, typ, nr, size). The direction bits and
// where they sit differ by architecture: asm-generic (arm, arm64, amd64, 386,
// riscv, …) has two bits at 30 with read 2 and write 1; mips, powerpc and sparc have
// three bits at 29 with read 2 and write 4. For _IOWR the two layouts give the same
// number, but it is computed per architecture so that a change of direction here
// cannot silently be wrong on a router.
func ioctlNumber(read, write bool, typ, nr, size uintptr) uintptr {
	dirShift, rd, wr := uintptr(30), uintptr(2), uintptr(1)
	switch runtime.GOARCH {
	case "mips", "mipsle", "mips64", "mips64le", "ppc", "ppc64", "ppc64le", "sparc64":
		dirShift, rd, wr = 29, 2, 4
	}
	var dir uintptr
	if read {
		dir |= rd
	}
	if write {
		dir |= wr
	}
	return dir<<dirShift | size<<16 | typ<<8 | nr
}

// getLineInfoV2 is GPIO_V2_GET_LINEINFO_IOCTL, _IOWR(0xB4, 0x05, struct
// gpio_v2_line_info), which the kernel has since Linux 5.10.
var getLineInfoV2 = ioctlNumber(true, true, 0xB4, 0x05, unsafe.Sizeof(lineInfoV2{}))

// errNoV2 is the probe's refusal: periph.io's gpioioctl speaks only the v2
// interface of the character device.
var errNoV2 = errors.New("the kernel lacks the GPIO character device v2 interface (Linux 5.10 or later)")

// probeV2 asks each of paths for line 0's information through the v2 interface,
// before periph scans them. periph v3.8.5 wraps one descriptor in two *os.File
// when a chip's ioctl fails and drops both: their finalisers later close that
// descriptor number twice, by then perhaps another file's. So periph must only
// see chips that answer v2: on an older kernel (OpenWrt 21.02 runs 5.4) or under
// an emulator that does not pass the ioctl on, the probe fails and periph is not
// called. A chip that cannot be opened is left to periph, which only logs it and
// holds no descriptor for it (noChips explains the permission).
func probeV2(paths []string) error {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		var info lineInfoV2 // offset 0, padding zero
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), getLineInfoV2, uintptr(unsafe.Pointer(&info)))
		runtime.KeepAlive(f)
		_ = f.Close()
		switch errno {
		case 0:
		case unix.ENOTTY, unix.EINVAL, unix.ENOSYS, unix.EOPNOTSUPP:
			return fmt.Errorf("gpio: %s: %w (GPIO_V2_GET_LINEINFO: %v)", p, errNoV2, errno)
		default:
			return fmt.Errorf("gpio: %s: reading line 0 through the v2 interface: %w", p, errno)
		}
	}
	return nil
}

// fdOpen reports whether descriptor fd is open.
func fdOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// guardStdin keeps descriptor 0 open around periph's scan. periph v3.8.5 closes
// a chip it found twice (on a Raspberry Pi 5 /dev/gpiochip4 is a link to
// gpiochip0) with GPIOChip.Close, which zeroes the descriptor before its last
// close(2): it closes descriptor 0, the daemon's stdin. The next open would then
// get 0, and periph takes a line request on descriptor 0 for "not requested".
// guardStdin makes sure 0 is open before the scan (an open lands on the lowest free
// descriptor), and the function it returns, called right after the scan and before
// any other open, puts /dev/null back on 0 when the scan closed it.
func guardStdin() (restore func() error, err error) {
	if err := fillStdin(); err != nil {
		return nil, err
	}
	return fillStdin, nil
}

// fillStdin opens /dev/null onto descriptor 0 when 0 is closed.
func fillStdin() error {
	if fdOpen(0) {
		return nil
	}
	fd, err := unix.Open("/dev/null", unix.O_RDWR, 0) // no O_CLOEXEC: 0 stays stdin for children
	if err != nil {
		return fmt.Errorf("gpio: reopening stdin on /dev/null: %w", err)
	}
	if fd != 0 {
		// An open lands on the lowest free descriptor: another goroutine's open
		// took 0 between the check and this one, so 0 is open again, as that file.
		return unix.Close(fd)
	}
	return nil
}

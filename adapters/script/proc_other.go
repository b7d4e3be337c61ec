//go:build !linux

package script

import (
	"errors"
	"os"
	"syscall"
)

// errUnsupported is what the script sink says on a system other than Linux: it
// relies on process groups and waitid(WNOWAIT) to kill a script's whole group
// without racing a reused process id.
var errUnsupported = errors.New("the script sink runs only on Linux")

func supported() error { return errUnsupported }

func startProcess(string, []string, []string, *os.File, *os.File, *os.File) (*os.Process, error) {
	return nil, errUnsupported
}

func signalGroup(int, syscall.Signal) error { return errUnsupported }

func waitExited(int) error { return errUnsupported }

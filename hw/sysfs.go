package hw

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgerelay/edgerelay/adapters/clock"
)

// DefaultSysfsRoot is where the kernel lists its LED-class devices.
const DefaultSysfsRoot = "/sys/class/leds"

// SysfsOptions name one LED-class device.
type SysfsOptions struct {
	// Root is the LED-class directory. Empty means DefaultSysfsRoot; tests pass a
	// temporary tree laid out the same way.
	Root string
	// Name is the device's directory under Root ("ACT", "led0", "green:status").
	Name string
	// ActiveLow inverts the output, for an LED wired to light when the line is low.
	ActiveLow bool
	// Clock times the retries of the timer's delay files (Blink); the Driver's
	// clock, so that tests control both. Nil means clock.Real.
	Clock clock.Clock
}

// Sysfs is an LED-class device (/sys/class/leds/<name>): Set writes brightness, and
// Blink hands a plain blink to the kernel's timer trigger when the device offers it.
// Opening it takes the device from whatever trigger drove it (mmc0, heartbeat);
// Close gives it back.
type Sysfs struct {
	dir       string
	max       int
	activeLow bool
	timer     bool   // the device lists the timer trigger
	inTimer   bool   // the timer trigger is selected
	restore   string // the trigger selected when opened, "" for none
	noDelays  bool   // the timer's delays could not be written: blink in software
	clock     clock.Clock
}

var _ Blinker = (*Sysfs)(nil)

// OpenSysfs opens the LED-class device o.Name and turns it off. It fails when the
// device does not exist or its brightness cannot be written.
func OpenSysfs(o SysfsOptions) (*Sysfs, error) {
	root := o.Root
	if root == "" {
		root = DefaultSysfsRoot
	}
	if o.Name == "" || strings.ContainsAny(o.Name, "/") || o.Name == "." || o.Name == ".." {
		return nil, fmt.Errorf("led name %q: not a device name", o.Name)
	}
	s := &Sysfs{dir: filepath.Join(root, o.Name), max: 1, activeLow: o.ActiveLow, clock: clock.Or(o.Clock)}
	if _, err := os.Stat(filepath.Join(s.dir, "brightness")); err != nil {
		return nil, fmt.Errorf("led %q: %w", o.Name, err)
	}
	if b, err := os.ReadFile(filepath.Join(s.dir, "max_brightness")); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			s.max = n
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.dir, "trigger")); err == nil {
		s.timer, s.restore = parseTriggers(string(b))
		if s.restore != "" {
			if err := s.writeFile("trigger", "none"); err != nil {
				return nil, err
			}
		}
	}
	if err := s.Set(false); err != nil {
		return nil, err
	}
	return s, nil
}

// parseTriggers reads a trigger file ("none rc-feedback [mmc0] timer"): whether the
// timer trigger is offered, and the selected trigger unless it is none.
func parseTriggers(s string) (timer bool, selected string) {
	for _, f := range strings.Fields(s) {
		name := strings.Trim(f, "[]")
		if name == "timer" {
			timer = true
		}
		if strings.HasPrefix(f, "[") && name != "none" {
			selected = name
		}
	}
	return timer, selected
}

// HasTimer reports whether the device offers the kernel timer trigger.
func (s *Sysfs) HasTimer() bool { return s.timer }

// Set turns the LED on or off, leaving the timer trigger first if it blinks.
func (s *Sysfs) Set(on bool) error {
	if s.inTimer {
		if err := s.writeFile("trigger", "none"); err != nil {
			return err
		}
		s.inTimer = false
	}
	v := 0
	if on != s.activeLow {
		v = s.max
	}
	return s.writeFile("brightness", strconv.Itoa(v))
}

// Blink selects the timer trigger with the given times; ErrNoBlink when the device
// has no timer trigger. Active-low swaps the two times, since the kernel's "on" then
// darkens the LED.
//
// When the delay attributes cannot be written, Blink leaves the timer trigger again
// and returns an error that is ErrNoBlink too, so that the Driver plays the pattern
// in software: the kernel's own default, 500 ms on and 500 ms off, is not a pattern
// docs/leds.md defines. Later calls do not try the timer again.
func (s *Sysfs) Blink(on, off time.Duration) error {
	if !s.timer || s.noDelays {
		return ErrNoBlink
	}
	if s.activeLow {
		on, off = off, on
	}
	fresh := !s.inTimer
	if fresh {
		// The kernel drives the timer at the brightness set when it starts.
		if err := s.writeFile("brightness", strconv.Itoa(s.max)); err != nil {
			return err
		}
		if err := s.writeFile("trigger", "timer"); err != nil {
			return err
		}
		s.inTimer = true
	}
	if err := s.writeDelays(on, off, fresh); err != nil {
		s.noDelays = true
		return errors.Join(fmt.Errorf("%w: the timer's delays cannot be written", ErrNoBlink), err, s.Set(false))
	}
	return nil
}

// delayGrace is how long delay attributes refused just after the timer trigger was
// selected are tried again, both together.
const delayGrace = time.Second

// delayRetry is the pause between two tries within delayGrace.
const delayRetry = 20 * time.Millisecond

// writeDelays writes the timer trigger's delay_on and delay_off. The kernel creates
// them when the trigger is selected, owned by root; for a daemon that is not root,
// the udev rule (docs/leds.md) hands them to its group on the change event that
// follows, a few milliseconds later. So when the trigger was selected just now, a
// refused write is tried again, both files within one delayGrace on the clock: the
// caller (the Driver's Show) holds its lock meanwhile.
func (s *Sysfs) writeDelays(on, off time.Duration, fresh bool) error {
	todo := []struct {
		name string
		d    time.Duration
	}{{"delay_on", on}, {"delay_off", off}}
	deadline := s.clock.Now().Add(delayGrace)
	for {
		var errs []error
		left := todo[:0]
		for _, f := range todo {
			if err := s.writeFile(f.name, strconv.FormatInt(f.d.Milliseconds(), 10)); err != nil {
				errs = append(errs, err)
				left = append(left, f)
			}
		}
		todo = left
		err := errors.Join(errs...)
		if err == nil || !fresh || !errors.Is(err, fs.ErrPermission) || !s.clock.Now().Before(deadline) {
			return err
		}
		t := s.clock.NewTimer(delayRetry)
		<-t.C()
	}
}

// Close turns the LED off and gives the device back to the trigger it had when
// opened.
func (s *Sysfs) Close() error {
	err := s.Set(false)
	if s.restore != "" {
		err = errors.Join(err, s.writeFile("trigger", s.restore))
	}
	return err
}

// writeFile writes v to the device's attribute name (an existing file: sysfs
// attributes cannot be created).
func (s *Sysfs) writeFile(name, v string) error {
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("write led %s: %w%s", name, err, hint(err))
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write led %s: %w%s", name, err, hint(err))
	}
	return nil
}

// hint says what usually causes err on an LED-class attribute.
func hint(err error) string {
	switch {
	case errors.Is(err, syscall.EROFS):
		// systemd's ProtectKernelTunables= makes /sys read-only for the service.
		return " (under systemd: a ReadWritePaths= drop-in for the LED, see docs/leds.md)"
	case errors.Is(err, fs.ErrPermission):
		return " (the daemon's user needs write access: the udev rule in docs/leds.md, or root)"
	}
	return ""
}

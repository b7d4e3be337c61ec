//go:build !linux && !edgerelay_omit_gpio

package gpio

import "errors"

// errNoV2 is the probe's refusal, which off Linux never happens.
var errNoV2 = errors.New("the kernel lacks the GPIO character device v2 interface (Linux 5.10 or later)")

// probeV2 has nothing to probe off Linux: periph finds no chip there.
func probeV2([]string) error { return nil }

// guardStdin is needed only where periph scans chips, on Linux.
func guardStdin() (func() error, error) { return func() error { return nil }, nil }

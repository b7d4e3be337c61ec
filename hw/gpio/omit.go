//go:build edgerelay_omit_gpio

package gpio

// Built reports whether the GPIO backend is in this binary (false with OmitTag).
const Built = false

// open fails: the backend was left out of this binary.
func open(Options) (*LED, error) { return nil, ErrOmitted }

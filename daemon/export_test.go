package daemon

// StopCount exposes how many cleanups wait for the shutdown, for the external tests.
func StopCount(d *Daemon) int { return d.stopCount() }

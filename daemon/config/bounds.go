package config

import "fmt"

// Defaults of the store's bounds (see Store). 256 MiB of live data holds about a
// quarter of a million typical alert events (1 KiB), days of backlog for a busy
// site, and stays well under the 1 GiB that bbolt's memory map can take on a 32-bit
// gateway; the daemon lowers it further on a small disk (daemon.storeLimits).
const (
	DefaultMaxBytes       = 256 << 20
	DefaultMaxDeadLetters = 10000
	DefaultMaxDeadBytes   = 32 << 20
)

// applyBounds fills the store bounds' defaults.
func (s *Store) applyBounds() {
	if s.MaxBytes == 0 {
		s.MaxBytes = DefaultMaxBytes
	}
	if s.MaxDeadLetters == 0 {
		s.MaxDeadLetters = DefaultMaxDeadLetters
	}
	if s.MaxDeadBytes == 0 {
		s.MaxDeadBytes = DefaultMaxDeadBytes
	}
}

// validateBounds checks the store bounds after applyBounds.
func (s *Store) validateBounds() []string {
	var p []string
	if s.MaxEventBytes < -1 {
		p = append(p, fmt.Sprintf("store.max_event_bytes: %d is negative (-1 means no limit)", s.MaxEventBytes))
	}
	if s.MaxBytes < -1 {
		p = append(p, fmt.Sprintf("store.max_bytes: %d is negative (-1 means no bound)", s.MaxBytes))
	} else if least := max(1<<20, 4*int64(s.MaxEventBytes)); s.MaxBytes > 0 && s.MaxBytes < least {
		p = append(p, fmt.Sprintf("store.max_bytes: %d is less than %d (1 MiB, and four times store.max_event_bytes): the store could not hold a batch of events",
			s.MaxBytes, least))
	}
	if s.MaxDeadLetters < -1 {
		p = append(p, fmt.Sprintf("store.max_dead_letters: %d is negative (-1 means no bound)", s.MaxDeadLetters))
	}
	if s.MaxDeadBytes < -1 {
		p = append(p, fmt.Sprintf("store.max_dead_bytes: %d is negative (-1 means no bound)", s.MaxDeadBytes))
	}
	return p
}

// boundsWarnings warns when the dead letters of sinks sinks and @rejected, each
// at store.max_dead_bytes, could take more than 3/4 of store.max_bytes: they count
// towards it, so an outbox could then find the store full with little backlog.
func (s *Store) boundsWarnings(sinks int) []string {
	if s.MaxBytes <= 0 || s.MaxDeadBytes <= 0 {
		return nil
	}
	if all := int64(sinks+1) * s.MaxDeadBytes; all > s.MaxBytes/4*3 {
		return []string{fmt.Sprintf("store.max_dead_bytes: %d for each of %d sinks and @rejected is %d bytes, more than 3/4 of store.max_bytes (%d): "+
			"dead letters count towards it and could leave little room for a backlog", s.MaxDeadBytes, sinks, all, s.MaxBytes)}
	}
	return nil
}

// Package topic implements MQTT 3.1.1 topic filters (§4.7): validation and matching,
// including shared subscriptions ("$share/<group>/<filter>"). The MQTT source, the
// embedded broker's bridge and the router all use it, so a filter means the same
// thing everywhere.
package topic

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// sharePrefix starts a shared subscription: $share/<group>/<filter>.
const sharePrefix = "$share/"

// Validate checks an MQTT 3.1.1 topic filter: not empty, valid UTF-8 without
// NUL, at most 65535 bytes, '#' only as the whole last level and '+' only as a whole
// level. A shared subscription "$share/<group>/<filter>" is accepted when the group is
// a non-empty name without wildcards and the filter after it is valid.
func Validate(f string) error {
	if !strings.HasPrefix(f, sharePrefix) {
		return validatePlain(f)
	}
	g, rest, ok := strings.Cut(f[len(sharePrefix):], "/")
	if !ok {
		return fmt.Errorf("shared subscription %q: want $share/<group>/<filter>", f)
	}
	if g == "" || strings.ContainsAny(g, "+#") {
		return fmt.Errorf("shared subscription %q: the group name must be non-empty and without wildcards", f)
	}
	if err := validatePlain(rest); err != nil {
		return fmt.Errorf("shared subscription %q: %w", f, err)
	}
	return nil
}

func validatePlain(f string) error {
	switch {
	case f == "":
		return errors.New("empty topic filter")
	case len(f) > 65535:
		return errors.New("topic filter longer than 65535 bytes")
	case !utf8.ValidString(f):
		return errors.New("topic filter is not valid UTF-8")
	case strings.ContainsRune(f, 0):
		return errors.New("topic filter contains NUL")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("%q: '#' must be the last level", f)
		case strings.Contains(l, "#") && l != "#":
			return fmt.Errorf("%q: '#' must occupy a whole level", f)
		case strings.Contains(l, "+") && l != "+":
			return fmt.Errorf("%q: '+' must occupy a whole level", f)
		}
	}
	return nil
}

// Match reports whether topic matches the topic filter f (MQTT 3.1.1 §4.7):
// '+' matches one level, a trailing '#' matches the parent level and everything
// below it, and wildcards in the first level never match topics starting with '$'.
// For a shared subscription the "$share/<group>/" prefix is ignored.
func Match(f, topic string) bool {
	if strings.HasPrefix(f, sharePrefix) {
		if _, rest, ok := strings.Cut(f[len(sharePrefix):], "/"); ok {
			f = rest
		}
	}
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(f, "+") || strings.HasPrefix(f, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(f, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// "a/#" also matches "a".
			return frest == "#"
		case !fmore:
			return false
		}
		f, topic = frest, trest
	}
}

// Unshare returns the filter of a shared subscription "$share/<group>/<filter>", or f
// unchanged when it is not one.
func Unshare(f string) string {
	if rest, ok := strings.CutPrefix(f, sharePrefix); ok {
		if _, filter, ok := strings.Cut(rest, "/"); ok {
			return filter
		}
	}
	return f
}

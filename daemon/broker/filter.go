package broker

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// unshare turns a shared subscription "$share/<group>/<filter>" into its filter: a
// bridge source sees every message in-process, so there is nothing to share.
func unshare(f string) string {
	if rest, ok := strings.CutPrefix(f, "$share/"); ok {
		if _, filter, ok := strings.Cut(rest, "/"); ok {
			return filter
		}
	}
	return f
}

// validateFilter checks an MQTT topic filter for a bridge source: not empty, valid
// UTF-8, '#' only as the whole last level, '+' only as a whole level.
func validateFilter(f string) error {
	switch {
	case f == "":
		return errors.New("empty topic filter")
	case len(f) > 65535:
		return fmt.Errorf("topic filter longer than 65535 bytes")
	case !utf8.ValidString(f) || strings.ContainsRune(f, 0):
		return fmt.Errorf("%q: not valid UTF-8 or contains NUL", f)
	case strings.HasPrefix(f, "$share/"):
		return fmt.Errorf("%q: want $share/<group>/<filter>", f)
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

// matchFilter reports whether topic matches filter f (MQTT 3.1.1 §4.7): '+' is one
// level, a final '#' the parent level and everything below; wildcards in the first
// level never match topics starting with '$'.
func matchFilter(f, topic string) bool {
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
			return frest == "#" // "a/#" also matches "a"
		case !fmore:
			return false
		}
		f, topic = frest, trest
	}
}

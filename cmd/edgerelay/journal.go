package main

import (
	"bytes"
	"io"
	"os"
)

// journalWriter puts the sd-daemon priority prefix ("<3>" for errors …) in front of
// each log line, so that journald files every line at its real severity instead of
// "info" and `journalctl -p warning` works. slog writes each record with one Write
// call, which is what makes the per-call prefix correct.
type journalWriter struct{ w io.Writer }

// newLogWriter returns w, wrapped with priority prefixes when stderr is connected to
// the journal (systemd sets JOURNAL_STREAM for such services).
func newLogWriter(w io.Writer) io.Writer {
	if os.Getenv("JOURNAL_STREAM") == "" {
		return w
	}
	return journalWriter{w}
}

var priorities = map[string][]byte{"ERROR": []byte("<3>"), "WARN": []byte("<4>"), "INFO": []byte("<6>"), "DEBUG": []byte("<7>")}

// level finds the record's level: the first level= (text) or "level":" (JSON) field,
// which slog writes before the message and attributes.
func level(p []byte) string {
	for _, key := range [][]byte{[]byte("level="), []byte(`"level":"`)} {
		if i := bytes.Index(p, key); i >= 0 {
			rest := p[i+len(key):]
			if j := bytes.IndexAny(rest, " \"\n"); j >= 0 {
				rest = rest[:j]
			}
			return string(rest)
		}
	}
	return ""
}

func (j journalWriter) Write(p []byte) (int, error) {
	prio, ok := priorities[level(p)]
	if !ok {
		prio = priorities["INFO"]
	}
	buf := make([]byte, 0, len(prio)+len(p))
	buf = append(append(buf, prio...), p...)
	if _, err := j.w.Write(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

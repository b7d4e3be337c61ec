package web

import (
	"bytes"
	"io"
	"strings"
)

// family is what /metrics says about one metric family in its # HELP and # TYPE lines.
type family struct {
	typ  string // counter, gauge, histogram or summary
	help string
	// rename, when set, is the name the family is exposed under: the metrics
	// library's few Go runtime names that break the exposition format's naming rules
	// (a counter must end in _total, only histograms and summaries end in _count).
	rename string
	// drop leaves the family out.
	drop bool
}

// undocumented is the HELP text of a family that has no entry in families: a bug
// that TestMetricsFamiliesDocumented catches.
const undocumented = "Not documented (a bug: add it to daemon/web/help.go)."

// writeExposition writes the samples in raw, the metrics library's output, to w in the
// Prometheus text exposition format (version 0.0.4), with a # HELP and a # TYPE line
// before each family. A family's samples are grouped under one header even when raw
// interleaves them; the library's own comment lines are dropped. Families are looked
// up in families: a histogram's or summary's _bucket, _sum and _count samples belong
// to it.
func writeExposition(w io.Writer, raw []byte) error {
	type group struct {
		name    string
		f       family
		samples [][]byte
	}
	var order []*group
	byName := map[string]*group{}
	for line := range bytes.Lines(raw) {
		line = bytes.TrimRight(line, "\n")
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		name := sampleName(line)
		fam, f := familyOf(name)
		if f.drop {
			continue
		}
		if f.rename != "" {
			line = append([]byte(f.rename+strings.TrimPrefix(name, fam)), line[len(name):]...)
			fam = f.rename
		}
		g := byName[fam]
		if g == nil {
			g = &group{name: fam, f: f}
			byName[fam] = g
			order = append(order, g)
		}
		g.samples = append(g.samples, line)
	}
	var b bytes.Buffer
	for _, g := range order {
		b.WriteString("# HELP ")
		b.WriteString(g.name)
		b.WriteByte(' ')
		b.WriteString(helpEscaper.Replace(g.f.help))
		b.WriteString("\n# TYPE ")
		b.WriteString(g.name)
		b.WriteByte(' ')
		b.WriteString(g.f.typ)
		b.WriteByte('\n')
		for _, s := range g.samples {
			b.Write(s)
			b.WriteByte('\n')
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// sampleName returns the metric name of a sample line: up to the labels or the value.
func sampleName(line []byte) string {
	if i := bytes.IndexAny(line, "{ "); i >= 0 {
		return string(line[:i])
	}
	return string(line)
}

// familyOf returns the family a sample named name belongs to, and its description.
func familyOf(name string) (string, family) {
	if f, ok := families[name]; ok {
		return name, f
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if f, ok := families[base]; ok && (f.typ == "histogram" || f.typ == "summary") {
			return base, f
		}
	}
	return name, family{typ: "untyped", help: undocumented}
}

// helpEscaper escapes a HELP text as the exposition format requires.
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

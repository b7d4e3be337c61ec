package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestGenDocs runs the hidden gen-docs command as `make package` does and checks
// the man page has a section for every command a user can run, and that the
// completions are there.
func TestGenDocs(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "1764720000")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"gen-docs", dir}, &out, &errb); code != 0 {
		t.Fatalf("gen-docs exit %d: %s", code, errb.String())
	}
	man, err := os.ReadFile(filepath.Join(dir, "edgerelay.1"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(man)
	if !strings.Contains(page, `.TH EDGERELAY 1 "2025\-12\-03"`) {
		t.Errorf("man page header lacks the SOURCE_DATE_EPOCH date:\n%s", page[:min(len(page), 300)])
	}
	for _, sec := range []string{".SH NAME\n", ".SH SYNOPSIS\n", ".SH DESCRIPTION\n", ".SH COMMANDS\n"} {
		if !strings.Contains(page, sec) {
			t.Errorf("man page lacks %q", sec)
		}
	}

	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		for _, s := range c.Commands() {
			if s.Hidden || s.Name() == "help" || s.Name() == "completion" {
				continue
			}
			n++
			if want := `.SS "` + roffEscape(s.CommandPath()); !strings.Contains(page, want) {
				t.Errorf("man page has no section for %q (want a line starting %s)", s.CommandPath(), want)
			}
			s.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if !f.Hidden && !strings.Contains(page, `\-\-`+roffEscape(f.Name)) {
					t.Errorf("man page does not name %s --%s", s.CommandPath(), f.Name)
				}
			})
			walk(s)
		}
	}
	walk(newRoot(io.Discard, io.Discard, io.Discard))
	if n < 10 {
		t.Errorf("walked only %d commands", n)
	}
	if strings.Contains(page, `.SS "edgerelay gen\-docs`) || strings.Contains(page, ".B edgerelay gen\\-docs") {
		t.Errorf("the hidden gen-docs command is in the man page")
	}

	for name, want := range map[string]string{
		"edgerelay.bash": "bash completion V2 for edgerelay",
		"_edgerelay":     "#compdef edgerelay",
		"edgerelay.fish": "complete -c edgerelay",
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q", name, want)
		}
	}

	out.Reset()
	if code := run(context.Background(), []string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	if strings.Contains(out.String(), "gen-docs") {
		t.Errorf("gen-docs shows in --help:\n%s", out.String())
	}
}

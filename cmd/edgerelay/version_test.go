package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// TestVersionFromPlainGoBuild builds edgerelay with a plain `go build` in a git
// repository holding this tree and checks that `version` names its commit (from the
// build information Go embeds), with -dirty once the tree has changes; and that the
// Makefile's -ldflags still take precedence.
func TestVersionFromPlainGoBuild(t *testing.T) {
	goBin := goTool(t)
	gitBin, err := exec.LookPath("git")
	if err != nil {
		adaptertest.Missing(t, "needs the git command (the build information's vcs.revision comes from it)")
	}
	// A fresh repository: Go does not read VCS information in a git worktree
	// (.git is a file there), and the test must see this tree's own sources,
	// committed or not.
	root := filepath.Join("..", "..")
	repo := t.TempDir()
	files := strings.Fields(runIn(t, root, gitBin, "ls-files", "--cached", "--others", "--exclude-standard"))
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not committed yet
		}
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Join(repo, filepath.Dir(f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(repo, f), b, 0o644))
	}
	git := func(args ...string) string {
		return strings.TrimSpace(runIn(t, repo, gitBin, append([]string{"-c", "user.name=test", "-c", "user.email=test@example.invalid"}, args...)...))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "test")
	rev := git("rev-parse", "HEAD")[:12]

	bin := filepath.Join(t.TempDir(), "edgerelay")
	build := func(extra ...string) string {
		args := append([]string{"build", "-trimpath", "-buildvcs=true", "-o", bin}, extra...)
		runIn(t, repo, goBin, append(args, "./cmd/edgerelay")...)
		return runIn(t, repo, bin, "version")
	}
	out := build()
	first, _, _ := strings.Cut(out, "\n")
	require.Regexp(t, `^edgerelay v0\.0\.0-\d{14}-`+rev+` \(commit `+rev+`\)$`, first)

	require.NoError(t, os.WriteFile(filepath.Join(repo, "README.md"), []byte("changed\n"), 0o644))
	out = build()
	first, _, _ = strings.Cut(out, "\n")
	require.Regexp(t, `^edgerelay v0\.0\.0-\d{14}-`+rev+`\+dirty \(commit `+rev+`-dirty\)$`, first)

	const bi = "github.com/edgerelay/edgerelay/cmd/edgerelay/internal/buildinfo"
	out = build("-ldflags", "-X "+bi+".Version=v9.9.9 -X "+bi+".Commit=abc1234")
	require.True(t, strings.HasPrefix(out, "edgerelay v9.9.9 (commit abc1234)\n"), out)
}

// runIn runs a command in dir with CGO_ENABLED=0 and returns its standard output.
func runIn(t *testing.T, dir, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s %s:\n%s", bin, strings.Join(args, " "), stderr.String())
	return string(out)
}

package main

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/store"
)

func hashFile(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

// TestQueueInspectsReadOnly: stats, list and check never create a missing store,
// never write, and never quarantine; check on a damaged store exits 1 naming the
// damage and leaves the file byte for byte alone.
func TestQueueInspectsReadOnly(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo", "queue.db")
	for _, cmd := range [][]string{{"stats"}, {"list"}, {"check"}, {"retry", "--sink", "hook", "--all"}, {"move", "--from", "a", "--to", "b"}} {
		code, _, errs := cli(t, append(append([]string{"queue"}, cmd...), "--store", missing)...)
		require.Equal(t, exitError, code, "%v", cmd)
		require.Contains(t, errs, missing+" does not exist", "%v", cmd)
		require.NoDirExists(t, filepath.Dir(missing), "%v must not create the store", cmd)
	}

	path := filepath.Join(dir, "queue.db")
	seedStore(t, path)
	sum := hashFile(t, path)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	for _, cmd := range [][]string{{"stats"}, {"list"}, {"list", "--dead"}, {"check"}} {
		code, _, errs := cli(t, append(append([]string{"queue"}, cmd...), "--store", path)...)
		require.Equal(t, exitOK, code, "%v: %s", cmd, errs)
	}
	require.Equal(t, sum, hashFile(t, path), "inspecting must not write")
	fi2, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, fi.ModTime(), fi2.ModTime())

	// Damage a record: check names it and exits 1; the file is untouched, nothing
	// is quarantined, and list still shows what is readable.
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	i := indexOf(raw, []byte("a2"))
	require.Positive(t, i)
	raw[i] ^= 0x01
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	sum = hashFile(t, path)
	code, _, errs := cli(t, "queue", "check", "--store", path)
	require.Equal(t, exitError, code)
	require.Contains(t, errs, "outbox/hook/2: checksum mismatch")
	code, out, _ := cli(t, "queue", "list", "--store", path)
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "(corrupt)")
	require.Contains(t, out, "a3")
	// The commands that write refuse a damaged store instead of quarantining it.
	code, _, errs = cli(t, "queue", "drop", "--store", path, "--sink", "hook", "1")
	require.Equal(t, exitError, code)
	require.Contains(t, errs, "is damaged")
	require.Equal(t, sum, hashFile(t, path))
	require.NoDirExists(t, filepath.Join(dir, "quarantine"))

	// Structural damage (the meta pages) fails every inspecting command the same way.
	clear(raw[:8192])
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	sum = hashFile(t, path)
	for _, cmd := range []string{"stats", "list", "check"} {
		code, _, errs := cli(t, "queue", cmd, "--store", path)
		require.Equal(t, exitError, code, cmd)
		require.Contains(t, errs, "is damaged: corrupt store: both meta pages are invalid", cmd)
	}
	require.Equal(t, sum, hashFile(t, path))
	require.NoDirExists(t, filepath.Join(dir, "quarantine"))
}

func indexOf(b, sub []byte) int {
	for i := 0; i+len(sub) <= len(b); i++ {
		if string(b[i:i+len(sub)]) == string(sub) {
			return i
		}
	}
	return -1
}

func TestQueueUnknownSink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	seedStore(t, path)
	cfg := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`
store: { path: `+path+` }
sinks: [ { name: console, type: stdout } ]
routes: [ { to: [console] } ]
`), 0o600))
	for _, cmd := range [][]string{
		{"retry", "--sink", "hokk", "--all"},
		{"drop", "--sink", "hokk", "--all"},
		{"drop", "--dead", "--sink", "hokk", "1"},
		{"list", "--sink", "hokk"},
	} {
		code, _, errs := cli(t, append(append([]string{"queue"}, cmd...), "-c", cfg)...)
		require.Equal(t, exitUsage, code, "%v", cmd)
		require.Contains(t, errs, `--sink "hokk": no such sink configured nor in the store (in the store: hook; configured: console, @rejected)`, "%v", cmd)
	}
	// @rejected has no lane: nothing is retried or moved into its outbox.
	code, _, errs := cli(t, "queue", "retry", "-c", cfg, "--sink", "@rejected", "--all")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errs, "--sink @rejected: refused events have no sink to go to")
	code, _, errs = cli(t, "queue", "move", "-c", cfg, "--from", "hook", "--to", "@rejected")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errs, "--to @rejected: refused events are kept there")
	// Without a configuration only the store's sinks are known.
	code, _, errs = cli(t, "queue", "retry", "--store", path, "--sink", "console", "--all")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errs, "in the store: hook; give -c")
	// A configured sink with nothing stored yet is fine.
	code, out, errs := cli(t, "queue", "retry", "-c", cfg, "--sink", "console", "--all")
	require.Equal(t, exitOK, code, errs)
	require.Contains(t, out, "0 dead letter(s) of console")

	// move: --from must be in the store, --to configured or stored.
	code, _, errs = cli(t, "queue", "move", "-c", cfg, "--from", "console", "--to", "hook")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errs, `--from "console": no such sink in the store (in the store: hook`)
	code, _, errs = cli(t, "queue", "move", "-c", cfg, "--from", "hook", "--to", "consol")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errs, `--to "consol": no such sink`)
	code, out, errs = cli(t, "queue", "move", "-c", cfg, "--from", "hook", "--to", "console")
	require.Equal(t, exitOK, code, errs)
	require.Contains(t, out, "moved 3 queued event(s) and 2 dead letter(s) of hook to the end of console")
	db, err := store.OpenReadOnly(path, store.Options{})
	require.NoError(t, err)
	defer db.Close()
	sinks, err := db.Sinks()
	require.NoError(t, err)
	require.Equal(t, []string{"console"}, sinks)
}

func TestQueueSalvage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	seedStore(t, path)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	i := indexOf(raw, []byte("a2"))
	raw[i] ^= 0x01
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	sum := hashFile(t, path)

	out := filepath.Join(dir, "new.db")
	code, stdout, errs := cli(t, "queue", "salvage", "--store", path, "--out", out)
	require.Equal(t, exitOK, code, errs)
	require.Contains(t, stdout, "salvaged 2 outbox and 3 dead-letter record(s), 1 cursor(s); 1 corrupt record(s) dead-lettered")
	require.Equal(t, sum, hashFile(t, path))
	code, _, errs = cli(t, "queue", "check", "--store", out)
	require.Equal(t, exitOK, code, errs)
	code, _, errs = cli(t, "queue", "salvage", "--store", path, "--out", out)
	require.Equal(t, exitError, code)
	require.Contains(t, errs, "the file exists")
}

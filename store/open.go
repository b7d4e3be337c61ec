package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// allocSize is how much bbolt grows the file by once it is past this size. bbolt's
// default of 16 MiB is a lot on a router's overlay partition.
const allocSize = 1 << 20

var errLockTimeout = errors.New("lock timeout")

// Open opens the store at path, creating the file and its directory (mode 0750) when
// missing. A damaged file is moved to <dir>/quarantine/<base>.<UTC time>.corrupt, logged
// at ERROR, and replaced by a fresh store holding every record Salvage could recover
// from it; see Quarantined and Salvaged. Open only fails when the
// environment is wrong: the directory cannot be created or written, another process
// holds the lock (ErrLocked), the file comes from a newer edgerelay (ErrSchemaNewer), or
// the damaged file cannot be moved aside.
func Open(path string, opts Options) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	freelist, err := freelistType(opts.FreelistType)
	if err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	path = filepath.Clean(path)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, dirError(dir, err)
	}
	if err := checkWritable(dir); err != nil {
		return nil, dirError(dir, err)
	}

	o := opener{path: path, opts: opts, freelist: freelist, log: log}
	var ce *corruptError
	resumed := o.resumeSalvage()
	var db *DB
	if resumed != nil {
		ce = resumed
	} else {
		db, err = o.attempt()
		if !errors.As(err, &ce) {
			return db, err
		}
	}
	rep, serr := o.salvage()
	_ = os.Remove(o.pendingPath()) // the salvage ended, well or not: nothing to resume
	syncDir(dir)
	if serr != nil {
		log.Error("store file is corrupt: moved it aside; salvage failed, starting with an empty store",
			"path", path, "moved_to", o.movedTo, "reason", ce.reason, "err", serr)
	} else {
		log.Error("store file is corrupt: moved it aside and salvaged what was readable",
			"path", path, "moved_to", o.movedTo, "reason", ce.reason, "salvage", rep.String())
	}
	db, err = o.attempt()
	if err != nil {
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("open fresh store %s after quarantine: %w", path, err)
		}
		return nil, err
	}
	db.movedTo, db.reason = o.movedTo, ce.reason
	if serr == nil {
		db.salvage = &rep
	} else {
		db.salvageErr = serr
	}
	return db, nil
}

// pendingPath is the marker of a quarantine whose salvage has not ended: it holds
// the quarantined file's path, and is written before the damaged file is moved.
func (o *opener) pendingPath() string { return o.path + ".salvage-pending" }

// resumeSalvage finishes a quarantine that a crash interrupted. The marker says the
// damaged file was (about to be) moved to a quarantine path. When the store's path
// is gone and that file is there, the move happened and the salvage did not end:
// resumeSalvage returns the reason to salvage it again, instead of starting on an
// empty store with the events left in quarantine. Otherwise (the move never
// happened, or the salvaged store was already renamed into place) the marker goes.
func (o *opener) resumeSalvage() *corruptError {
	b, err := os.ReadFile(o.pendingPath())
	if err != nil {
		return nil
	}
	moved := strings.TrimSpace(string(b))
	if _, err := os.Stat(o.path); errors.Is(err, fs.ErrNotExist) && moved != "" {
		if _, err := os.Stat(moved); err == nil {
			o.movedTo = moved
			o.log.Error("store: a salvage was interrupted (the daemon stopped while it ran): salvaging the quarantined file again",
				"path", o.path, "quarantined", moved)
			return &corruptError{reason: "quarantined earlier; its salvage was interrupted"}
		}
	}
	_ = os.Remove(o.pendingPath())
	return nil
}

// salvage recovers what is readable of the quarantined file into a new file at the
// store's path (see Salvage).
func (o *opener) salvage() (SalvageReport, error) {
	f, err := os.Open(o.movedTo)
	if err != nil {
		return SalvageReport{}, err
	}
	defer f.Close()
	opts := o.opts
	opts.Logger = nil
	return salvageFile(f, o.path, opts)
}

func freelistType(s string) (bbolt.FreelistType, error) {
	switch s {
	case "", "hashmap":
		return bbolt.FreelistMapType, nil
	case "array":
		return bbolt.FreelistArrayType, nil
	}
	return "", fmt.Errorf("open store: unknown freelist type %q (want hashmap or array)", s)
}

func dirError(dir string, err error) error {
	return fmt.Errorf("store directory %s is not usable (%w): fix its permissions or set store.path to a writable location", dir, err)
}

// opener holds what one Open call needs across its attempts.
type opener struct {
	path     string
	opts     Options
	freelist bbolt.FreelistType
	log      *slog.Logger
	movedTo  string // set when an attempt quarantined the file
}

func (o *opener) lockedErr() error {
	return fmt.Errorf("another edgerelay is using %s: %w", o.path, ErrLocked)
}

// attempt opens the file once. When it finds the file corrupt it moves the file aside
// (while still holding the lock, so it never moves a file another process is using)
// and returns a *corruptError.
func (o *opener) attempt() (*DB, error) {
	if err := o.preflight(); err != nil {
		return nil, err
	}

	bdb, err := o.openBolt()
	if err != nil {
		var ce *corruptError
		if errors.As(err, &ce) {
			if qerr := o.quarantine(); qerr != nil {
				return nil, qerr
			}
		}
		return nil, err
	}
	db := &DB{bolt: bdb, path: o.path, log: o.log, pageSize: bdb.Info().PageSize}

	err = guard(db.initialise)
	if err == nil && !o.opts.NoVerify {
		err = guard(func() error {
			probs, err := db.check(true)
			if err == nil && len(probs) > 0 {
				err = corrupt(summarise(probs), nil)
			}
			return err
		})
	}
	if err != nil {
		var ce *corruptError
		if errors.As(err, &ce) {
			if qerr := o.quarantine(); qerr != nil {
				err = qerr
			}
		}
		_ = bdb.Close()
		return nil, err
	}
	return db, nil
}

// preflight takes the lock and bounds-checks the file before bbolt maps it.
func (o *opener) preflight() error {
	f, err := os.Open(o.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return o.fileError(err)
	}
	defer f.Close() // releases the lock
	if err := lockExclusive(f, o.opts.Timeout); err != nil {
		if errors.Is(err, errLockTimeout) {
			return o.lockedErr()
		}
		return fmt.Errorf("lock store %s: %w", o.path, err)
	}
	err = preflight(f)
	var ce *corruptError
	if errors.As(err, &ce) {
		if qerr := o.quarantine(); qerr != nil {
			return qerr
		}
	}
	return err
}

func (o *opener) fileError(err error) error {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return dirError(filepath.Dir(o.path), err)
	}
	return fmt.Errorf("open store %s: %w", o.path, err)
}

// openBolt calls bbolt.Open, turning a panic into a *corruptError. bbolt can panic on
// some damage the preflight does not look for (key order, bad freelist contents);
// the files it opened are closed so the lock does not leak.
func (o *opener) openBolt() (bdb *bbolt.DB, err error) {
	var (
		mu    sync.Mutex // guards files
		files []*os.File
	)
	bopts := &bbolt.Options{
		Timeout:        o.opts.Timeout,
		NoFreelistSync: true,
		NoSync:         o.opts.NoSync,
		FreelistType:   o.freelist,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			if err == nil {
				mu.Lock()
				files = append(files, f)
				mu.Unlock()
			}
			return f, err
		},
	}
	err = guard(func() error {
		var err error
		bdb, err = bbolt.Open(o.path, 0o600, bopts)
		return err
	})
	if err == nil {
		bdb.AllocSize = allocSize
		return bdb, nil
	}
	var ce *corruptError
	if errors.As(err, &ce) { // a panic: bbolt did not clean up
		mu.Lock()
		for _, f := range files {
			_ = f.Close()
		}
		mu.Unlock()
		return nil, err
	}
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, o.lockedErr()
	case isEnvError(err):
		return nil, o.fileError(err)
	}
	return nil, corrupt("bbolt refused the file", err)
}

// isEnvError reports whether err comes from the operating system (permissions, memory,
// descriptors) rather than from the file's contents.
func isEnvError(err error) bool {
	var pe *fs.PathError
	var errno syscall.Errno
	return errors.As(err, &pe) || errors.As(err, &errno)
}

// guard runs fn, turning a panic, or a memory fault on this goroutine, into a
// *corruptError: bbolt panics (or faults) on some damaged pages.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = corrupt(fmt.Sprintf("bbolt panicked: %v", r), nil)
		}
	}()
	return fn()
}

// quarantine moves the file to <dir>/quarantine/<base>.<UTC time>.corrupt.
func (o *opener) quarantine() error {
	dir := filepath.Dir(o.path)
	qdir := filepath.Join(dir, "quarantine")
	if err := os.MkdirAll(qdir, 0o750); err != nil {
		return fmt.Errorf("store %s is corrupt and cannot be moved aside: %w", o.path, err)
	}
	base := filepath.Base(o.path)
	stamp := time.Now().UTC().Format("20060102T150405Z")
	dst := filepath.Join(qdir, base+"."+stamp+".corrupt")
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if i > 1000 {
			return fmt.Errorf("store %s is corrupt and cannot be moved aside: too many quarantined files named %s", o.path, dst)
		}
		dst = filepath.Join(qdir, fmt.Sprintf("%s.%s-%d.corrupt", base, stamp, i))
	}
	// The marker first: a crash between the move and the end of the salvage must not
	// leave the events in quarantine while the daemon starts on an empty store.
	if err := writeSynced(o.pendingPath(), []byte(dst+"\n")); err != nil {
		return fmt.Errorf("store %s is corrupt and cannot be moved aside: %w", o.path, err)
	}
	if err := os.Rename(o.path, dst); err != nil {
		_ = os.Remove(o.pendingPath())
		return fmt.Errorf("store %s is corrupt and cannot be moved aside: %w", o.path, err)
	}
	syncDir(qdir)
	syncDir(dir)
	o.movedTo = dst
	return nil
}

// syncDir makes a rename in dir durable; failures only weaken durability.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// initialise reads the schema and creates what a fresh file lacks. It writes nothing
// when the layout is complete, so a restart costs the flash nothing.
func (db *DB) initialise() error {
	need, fresh := false, false
	err := db.view(func(tx *bbolt.Tx) error {
		mb := tx.Bucket(bucketMeta)
		if mb == nil && db.readOnly {
			return corrupt("bucket meta is missing: not an edgerelay store", nil)
		}
		if mb == nil {
			if err := tx.ForEach(func([]byte, *bbolt.Bucket) error { return errStop }); err != nil {
				return corrupt("the file holds buckets but no meta bucket: not an edgerelay store", nil)
			}
			need, fresh = true, true
			return nil
		}
		db.v2only = string(mb.Get(keyRecords)) == "2"
		v := mb.Get(keySchema)
		if len(v) != 8 {
			return corrupt(fmt.Sprintf("meta/schema is %d bytes, want 8", len(v)), nil)
		}
		switch s := binary.BigEndian.Uint64(v); {
		case s == 0:
			return corrupt("meta/schema is 0", nil)
		case s > schemaVersion:
			return fmt.Errorf("open store %s: file schema %d, this edgerelay knows up to %d: %w",
				db.path, s, schemaVersion, ErrSchemaNewer)
		}
		if s := binary.BigEndian.Uint64(v); s < schemaVersion {
			need = true // an older layout: record the upgrade (its records still read)
		}
		for _, name := range [][]byte{bucketOutbox, bucketDead, bucketCursors} {
			if tx.Bucket(name) == nil {
				if db.readOnly {
					return corrupt(fmt.Sprintf("bucket %s is missing", name), nil)
				}
				need = true
			}
		}
		return nil
	})
	if err != nil || !need || db.readOnly {
		return err
	}
	err = db.update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketOutbox, bucketDead, bucketCursors} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		mb := tx.Bucket(bucketMeta)
		if fresh {
			// A new file holds version 2 records only; an upgraded one keeps its old
			// version 1 records readable.
			if err := mb.Put(keyRecords, []byte("2")); err != nil {
				return err
			}
		}
		want := binary.BigEndian.AppendUint64(nil, schemaVersion)
		if string(mb.Get(keySchema)) != string(want) {
			return mb.Put(keySchema, want)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("initialise store %s: %w", db.path, err)
	}
	db.v2only = db.v2only || fresh
	return nil
}

var errStop = errors.New("stop")

// summarise condenses check problems into one quarantine reason.
func summarise(probs []error) string {
	const max = 3
	var b strings.Builder
	for i, p := range probs {
		if i == max {
			fmt.Fprintf(&b, "; and %d more", len(probs)-max)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// ErrNotExist is returned (wrapped, naming the path) by OpenReadOnly when the store
// file does not exist.
var ErrNotExist = fs.ErrNotExist

// OpenReadOnly opens the store at path for inspection: bbolt's ReadOnly mode, a shared
// lock, nothing written, nothing created, nothing quarantined. A missing file is an
// error naming the path (wrapping ErrNotExist); a damaged file is an error naming the
// damage, and the file is left byte for byte as it was. The returned DB serves the
// reading methods (Scan, ScanDead, Sinks, Stats, Cursor, Cursors, DeadCount, Check);
// writing ones fail. Options.NoVerify skips the record walk, as for Open.
func OpenReadOnly(path string, opts Options) (*DB, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	path = filepath.Clean(path)
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("store %s does not exist (check --store or store.path): %w", path, ErrNotExist)
	case err != nil:
		return nil, fmt.Errorf("open store %s: %w", path, err)
	case st.IsDir():
		return nil, fmt.Errorf("store %s is a directory, not a store file", path)
	case st.Size() == 0:
		return nil, fmt.Errorf("store %s is an empty file, not an edgerelay store", path)
	}
	o := opener{path: path, opts: opts, log: slog.New(slog.DiscardHandler)}
	damaged := func(err error) error {
		return fmt.Errorf("store %s is damaged: %w (the file was not changed; `edgerelay queue salvage` recovers what is readable)", path, err)
	}

	f, err := os.Open(path)
	if err != nil {
		return nil, o.fileError(err)
	}
	if err := lockShared(f, opts.Timeout); err != nil {
		_ = f.Close()
		if errors.Is(err, errLockTimeout) {
			return nil, o.lockedErr()
		}
		return nil, fmt.Errorf("lock store %s: %w", path, err)
	}
	err = preflight(f)
	_ = f.Close()
	var ce *corruptError
	if errors.As(err, &ce) {
		return nil, damaged(err)
	}
	if err != nil {
		return nil, err
	}

	var bdb *bbolt.DB
	err = guard(func() error {
		var err error
		bdb, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.Timeout, ReadOnly: true})
		return err
	})
	switch {
	case errors.As(err, &ce):
		return nil, damaged(err)
	case errors.Is(err, berrors.ErrTimeout):
		return nil, o.lockedErr()
	case err != nil && isEnvError(err):
		return nil, o.fileError(err)
	case err != nil:
		return nil, damaged(corrupt("bbolt refused the file", err))
	}
	db := &DB{bolt: bdb, path: path, log: o.log, pageSize: bdb.Info().PageSize, readOnly: true}
	err = guard(db.initialise)
	if err == nil && !opts.NoVerify {
		err = guard(func() error {
			probs, err := db.check(true)
			if err == nil && len(probs) > 0 {
				err = corrupt(summarise(probs), nil)
			}
			return err
		})
	}
	if err != nil {
		_ = bdb.Close()
		if errors.As(err, &ce) {
			return nil, damaged(err)
		}
		return nil, err
	}
	return db, nil
}

// writeSynced writes b to path and syncs it to stable storage.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

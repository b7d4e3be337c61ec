package store

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// Salvage recovers every readable record of the (damaged) store file src into a new
// store at dst, which must not exist, and reports what it found and what was lost.
// src is only read (with ordinary reads, a shared lock, never through bbolt's memory
// map), so any damage is safe to look at and the file stays as it was.
//
// It works in two passes. The tree walk follows the tree from the newest valid meta
// page, with bounds-checked reads, skipping every page that cannot be read as what
// it should be; what it reaches is live, and a bucket it reads whole is taken as the
// truth. When the walk met damage (or no meta page is valid), the page scan reads
// every page it did not reach, recognises leaf pages by their header, and decodes
// each element as a record: a version 2 record whose checksum verifies says which
// outbox or dead-letter bucket and seq it belongs to, and is put back there unless
// the walk read that bucket whole. Of two copies of one record (an older one on a
// page bbolt has since freed), the one written by the newer transaction wins.
//
// What cannot come back: records on damaged pages; version 1 records (written before
// schema 2) that only the page scan found, since they do not say where they belong;
// records whose checksum fails where their location cannot be trusted; and the
// cursors (the sources' state) when the walk could not read their bucket. A record
// that fails its checksum where the walk found it is kept as a corrupt dead letter of
// its sink (Entry.Corrupt), never delivered. The page scan may also bring back a
// record that had been delivered (deleted) if an old copy of its page survives in
// free space: a duplicate, which at-least-once delivery allows (the event id is the
// dedup key), never a loss.
func Salvage(src, dst string, opts Options) (SalvageReport, error) {
	src, dst = filepath.Clean(src), filepath.Clean(dst)
	if _, err := os.Lstat(dst); err == nil {
		return SalvageReport{}, fmt.Errorf("salvage into %s: the file exists; choose a new --out", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return SalvageReport{}, fmt.Errorf("salvage into %s: %w", dst, err)
	}
	f, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return SalvageReport{}, fmt.Errorf("salvage %s: the file does not exist: %w", src, ErrNotExist)
	}
	if err != nil {
		return SalvageReport{}, fmt.Errorf("salvage %s: %w", src, err)
	}
	defer f.Close()
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if err := lockShared(f, opts.Timeout); err != nil {
		if errors.Is(err, errLockTimeout) {
			return SalvageReport{}, fmt.Errorf("another edgerelay is using %s: %w", src, ErrLocked)
		}
		return SalvageReport{}, fmt.Errorf("lock %s: %w", src, err)
	}
	return salvageFile(f, dst, opts)
}

// salvageFile salvages the open file f into dst, writing dst.salvage first and
// renaming it into place once complete, so dst is never a partial salvage.
func salvageFile(f *os.File, dst string, opts Options) (SalvageReport, error) {
	st, err := f.Stat()
	if err != nil {
		return SalvageReport{}, fmt.Errorf("salvage %s: %w", f.Name(), err)
	}
	s := newSalvager(f, st.Size())
	if err := s.run(); err != nil {
		return s.rep, fmt.Errorf("salvage %s: %w", f.Name(), err)
	}
	tmp := dst + ".salvage"
	_ = os.Remove(tmp) // a leftover of a salvage that was interrupted
	if err := s.write(tmp, opts); err != nil {
		_ = os.Remove(tmp)
		return s.rep, fmt.Errorf("salvage %s into %s: %w", f.Name(), dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return s.rep, fmt.Errorf("salvage %s into %s: %w", f.Name(), dst, err)
	}
	syncDir(filepath.Dir(dst))
	return s.rep, nil
}

// SalvageReport says what a salvage recovered and what it knows was lost.
type SalvageReport struct {
	// Outbox and Dead count the records written to the new store's outboxes and
	// dead-letter buckets (Dead includes the corrupt ones).
	Outbox, Dead int
	// Cursors counts the cursors (sources' state values) recovered.
	Cursors int
	// FromPageScan counts the records (of Outbox and Dead) that only the page scan
	// found: the tree above them was damaged.
	FromPageScan int
	// Corrupt counts records found in place that failed their checksum or did not
	// decode: they are dead letters of their sink now, marked corrupt.
	Corrupt int
	// CorruptLost counts records the page scan found that failed their checksum: where
	// they belong cannot be trusted, so they are lost.
	CorruptLost int
	// UnplacedV1 counts version 1 records only the page scan found: they do not say
	// where they belong, so they are lost (some may be stale copies of records that
	// were delivered long ago).
	UnplacedV1 int
	// DamagedPages lists the pages of the tree that could not be read; whatever lived
	// only there is lost.
	DamagedPages []uint64
	// DamagedBuckets names the buckets whose tree was not read whole ("outbox/hook",
	// "cursors", "root" for the top of the file).
	DamagedBuckets []string
	// CursorsLost is set when the cursors bucket was not read whole: sources may have
	// lost their saved position and start over.
	CursorsLost bool
	// PageSize is the page size the file was read with.
	PageSize int
	// Repaired counts version 2 records whose version byte alone was damaged: with
	// the byte put back, their checksum and location check out, so they were taken
	// as they were written.
	Repaired int
}

// Records returns how many records the salvage wrote.
func (r *SalvageReport) Records() int { return r.Outbox + r.Dead }

// Lost summarises what is known to be lost, or "" when nothing is.
func (r *SalvageReport) Lost() string {
	var parts []string
	if n := len(r.DamagedPages); n > 0 {
		ids := make([]string, 0, min(n, 8))
		for _, id := range r.DamagedPages[:min(n, 8)] {
			ids = append(ids, fmt.Sprint(id))
		}
		more := ""
		if n > 8 {
			more = fmt.Sprintf(" and %d more", n-8)
		}
		parts = append(parts, fmt.Sprintf("whatever lived only on %d damaged page(s) (%s%s) of %s",
			n, strings.Join(ids, ", "), more, strings.Join(r.DamagedBuckets, ", ")))
	}
	if r.CorruptLost > 0 {
		parts = append(parts, fmt.Sprintf("%d record(s) that failed their checksum outside the readable tree", r.CorruptLost))
	}
	if r.UnplacedV1 > 0 {
		parts = append(parts, fmt.Sprintf("%d old-format (version 1) record(s) outside the readable tree", r.UnplacedV1))
	}
	if r.CursorsLost {
		parts = append(parts, "sources' saved state (cursors bucket damaged)")
	}
	return strings.Join(parts, "; ")
}

// String is the one-line summary the daemon logs and the CLI prints.
func (r *SalvageReport) String() string {
	s := fmt.Sprintf("salvaged %d outbox and %d dead-letter record(s), %d cursor(s)", r.Outbox, r.Dead, r.Cursors)
	if r.FromPageScan > 0 {
		s += fmt.Sprintf(" (%d found by the page scan)", r.FromPageScan)
	}
	if r.Repaired > 0 {
		s += fmt.Sprintf("; %d record(s) with a damaged version byte repaired (checksum intact)", r.Repaired)
	}
	if r.Corrupt > 0 {
		s += fmt.Sprintf("; %d corrupt record(s) dead-lettered", r.Corrupt)
	}
	if lost := r.Lost(); lost != "" {
		return s + "; lost: " + lost
	}
	return s + "; nothing known lost"
}

// bucketID names one outbox or dead-letter bucket.
type bucketID struct {
	kind byte
	sink string
}

func (b bucketID) String() string { return kindName(b.kind) + "/" + b.sink }

// recLoc is where a record belongs.
type recLoc struct {
	bucketID
	seq uint64
}

type v1Found struct {
	loc recLoc
	raw []byte
	rec record
}

type salvaged struct {
	rec      record
	fromScan bool
}

type salvager struct {
	f        io.ReaderAt
	size     int64
	pageSize int64
	hwm      uint64 // pages to look at: [0, hwm)
	visited  map[uint64]bool

	recs     map[recLoc]salvaged
	corrupt  []salvaged // dead letters to append, rec.sink set
	seqs     map[bucketID]uint64
	complete map[bucketID]bool // buckets the tree walk read whole
	cursors  map[string][]byte
	cursorOK bool
	damaged  bool
	schema   uint64 // meta/schema, when the walk read it
	v2only   bool   // meta/records says version 2 records only, when the walk read it
	// v1 holds the version 1 records the walk found, placed once the walk is done:
	// in a file of version 2 records only (meta/records, read after the outboxes in
	// bbolt's key order) a version 1 record is a damaged version byte.
	v1  []v1Found
	rep SalvageReport
}

func newSalvager(f io.ReaderAt, size int64) *salvager {
	return &salvager{
		f: f, size: size, visited: map[uint64]bool{},
		recs: map[recLoc]salvaged{}, seqs: map[bucketID]uint64{},
		complete: map[bucketID]bool{}, cursors: map[string][]byte{},
	}
}

// run does both passes.
func (s *salvager) run() error {
	if s.size == 0 {
		return nil
	}
	m0, err0 := readMeta(s.f, 0)
	m, ok := m0, err0 == nil
	sizes := []int64{int64(os.Getpagesize())}
	if ok {
		sizes = []int64{int64(m0.pageSize)}
	} else if sizes[0] != 4096 {
		sizes = append([]int64{4096}, sizes...)
	}
	for _, ps := range sizes {
		if m1, err := readMeta(s.f, ps); err == nil && (!ok || m1.txid > m.txid) && int64(m1.pageSize) == ps {
			m, ok = m1, true
		}
	}
	if ok && (m.pageSize < 1024 || m.pageSize > 1<<20 || m.pageSize&(m.pageSize-1) != 0) {
		ok = false
	}
	if !ok {
		// No meta page: page-scan the file at each plausible page size, keeping the
		// one that finds the most.
		s.damaged = true
		s.rep.DamagedBuckets = append(s.rep.DamagedBuckets, "meta pages")
		best := s
		for _, ps := range sizes {
			t := newSalvager(s.f, s.size)
			t.damaged = true
			t.rep.DamagedBuckets = s.rep.DamagedBuckets
			t.pageSize, t.hwm = ps, uint64(s.size/ps)
			t.scan()
			if best == s || len(t.recs) > len(best.recs) {
				best = t
			}
		}
		*s = *best
		s.rep.CursorsLost = true
		s.rep.PageSize = int(s.pageSize)
		return nil
	}
	s.pageSize = int64(m.pageSize)
	s.rep.PageSize = int(m.pageSize)
	s.hwm = min(m.hwm, uint64(s.size/s.pageSize))
	if m.hwm > s.hwm {
		s.damaged = true
		s.rep.DamagedBuckets = append(s.rep.DamagedBuckets, fmt.Sprintf("file truncated (%d of %d pages)", s.hwm, m.hwm))
	}
	s.visited[0], s.visited[1] = true, true
	if m.freelist != boltNoFreelist {
		s.visited[m.freelist] = true
	}
	if !s.walkPage(m.root, nil, 0) {
		s.noteBucket(nil)
	}
	s.placeV1()
	if s.schema > schemaVersion {
		return fmt.Errorf("file schema %d, this edgerelay knows up to %d: %w", s.schema, schemaVersion, ErrSchemaNewer)
	}
	if s.damaged {
		s.scan()
	}
	s.rep.CursorsLost = !s.cursorOK
	return nil
}

// readPage reads page id with its overflow pages, checking what the tree walk must
// be able to trust: bounds and the page's own id.
func (s *salvager) readPage(id uint64) ([]byte, error) {
	if id < 2 || id >= s.hwm {
		return nil, fmt.Errorf("page id %d outside [2, %d)", id, s.hwm)
	}
	buf := make([]byte, s.pageSize)
	if _, err := s.f.ReadAt(buf, int64(id)*s.pageSize); err != nil {
		return nil, fmt.Errorf("read page %d: %w", id, err)
	}
	if got := ne.Uint64(buf); got != id {
		return nil, fmt.Errorf("page %d identifies itself as page %d", id, got)
	}
	overflow := uint64(ne.Uint32(buf[12:]))
	if id+overflow >= s.hwm {
		return nil, fmt.Errorf("page %d with %d overflow pages runs past page %d", id, overflow, s.hwm)
	}
	if overflow > 0 {
		buf = append(buf, make([]byte, int64(overflow)*s.pageSize)...)
		if _, err := s.f.ReadAt(buf[s.pageSize:], int64(id+1)*s.pageSize); err != nil {
			return nil, fmt.Errorf("read overflow of page %d: %w", id, err)
		}
	}
	return buf, nil
}

// bucketOf returns the outbox or dead-letter bucket a tree path names, if any.
func bucketOf(path []string) (bucketID, bool) {
	if len(path) != 2 {
		return bucketID{}, false
	}
	switch path[0] {
	case string(bucketOutbox):
		return bucketID{kindOutbox, path[1]}, true
	case string(bucketDead):
		return bucketID{kindDead, path[1]}, true
	}
	return bucketID{}, false
}

// noteBucket records that the bucket at path was not read whole.
func (s *salvager) noteBucket(path []string) {
	name := strings.Join(path, "/")
	if name == "" {
		name = "root"
	}
	if !slices.Contains(s.rep.DamagedBuckets, name) {
		s.rep.DamagedBuckets = append(s.rep.DamagedBuckets, name)
	}
}

func (s *salvager) damage(id uint64) {
	s.damaged = true
	if !slices.Contains(s.rep.DamagedPages, id) {
		s.rep.DamagedPages = append(s.rep.DamagedPages, id)
	}
}

// walkPage walks the subtree at page id of the bucket at path; it reports whether
// the subtree was read whole.
func (s *salvager) walkPage(id uint64, path []string, depth int) bool {
	if depth > 64 || s.visited[id] {
		s.damage(id) // a cycle or a page referenced twice
		return false
	}
	p, err := s.readPage(id)
	if err != nil {
		s.damage(id)
		return false
	}
	for i := id; i <= id+uint64(ne.Uint32(p[12:])); i++ {
		s.visited[i] = true
	}
	if !s.walkNode(p, path, depth) {
		s.damage(id)
		return false
	}
	return true
}

// walkNode walks one branch or leaf page (or an inline bucket's page); false means
// some of it could not be read.
func (s *salvager) walkNode(p []byte, path []string, depth int) bool {
	if len(p) < boltPageHeaderSize {
		return false
	}
	flags, count := ne.Uint16(p[8:]), int(ne.Uint16(p[10:]))
	if boltPageHeaderSize+count*boltElemSize > len(p) {
		return false
	}
	ok := true
	for i := range count {
		off := boltPageHeaderSize + i*boltElemSize
		el := p[off : off+boltElemSize]
		switch flags {
		case pageBranch:
			if !s.walkPage(ne.Uint64(el[8:]), path, depth+1) {
				ok = false
			}
		case pageLeaf:
			eflags := ne.Uint32(el[0:])
			pos, ksize, vsize := uint64(ne.Uint32(el[4:])), uint64(ne.Uint32(el[8:])), uint64(ne.Uint32(el[12:]))
			start := uint64(off) + pos
			if start+ksize+vsize > uint64(len(p)) {
				ok = false
				continue
			}
			k, v := p[start:start+ksize], p[start+ksize:start+ksize+vsize]
			if eflags&leafBucket != 0 {
				s.walkBucket(k, v, path, depth)
				continue
			}
			s.value(path, k, v)
		default:
			return false
		}
	}
	return ok
}

// walkBucket follows the bucket named k, whose header is v, inside the bucket at path.
// A damaged bucket makes only itself incomplete, not its parent: the parent's own
// elements were read.
func (s *salvager) walkBucket(k, v []byte, path []string, depth int) {
	child := append(slices.Clip(path), string(k))
	if len(v) < boltBucketHdrSize {
		s.noteBucket(child)
		s.damaged = true
		return
	}
	root, seq := ne.Uint64(v), ne.Uint64(v[8:])
	b, isRecs := bucketOf(child)
	if isRecs {
		s.seqs[b] = max(s.seqs[b], seq)
	}
	var whole bool
	if root == 0 {
		whole = depth < 64 && len(v) >= boltBucketHdrSize+boltPageHeaderSize &&
			ne.Uint16(v[boltBucketHdrSize+8:]) == pageLeaf && s.walkNode(v[boltBucketHdrSize:], child, depth+1)
		if !whole {
			s.damaged = true
		}
	} else {
		whole = s.walkPage(root, child, depth+1)
	}
	switch {
	case !whole:
		s.noteBucket(child)
	case isRecs:
		s.complete[b] = true
	case len(child) == 1 && child[0] == string(bucketCursors):
		s.cursorOK = true
	}
}

// value takes one key/value element the tree walk found in the bucket at path.
func (s *salvager) value(path []string, k, v []byte) {
	if len(path) == 1 && path[0] == string(bucketCursors) {
		if len(k) > 0 && len(k) <= MaxCursorName && len(v) <= MaxCursorValue {
			s.cursors[string(k)] = append([]byte(nil), v...)
		}
		return
	}
	if len(path) == 1 && path[0] == string(bucketMeta) && string(k) == string(keySchema) && len(v) == 8 {
		s.schema = binary.BigEndian.Uint64(v)
		return
	}
	if len(path) == 1 && path[0] == string(bucketMeta) && string(k) == string(keyRecords) {
		s.v2only = string(v) == "2"
		return
	}
	b, ok := bucketOf(path)
	if !ok {
		return // meta/schema is written afresh; anything else is not ours
	}
	parent := []byte(path[0])
	seq, okSeq := keySeq(k)
	if !okSeq || seq == 0 {
		// Sequences start at 1: a key of 0 is damage, and the record cannot be put
		// back at it (a store holding it would fail its own open check).
		s.addCorrupt(b.sink, corruptRecord(parent, b.sink, 0, v, fmt.Errorf("key %x is not a sequence number", k), time.Time{}))
		return
	}
	if r, ok := repairVersion(v, parent, b.sink, seq); ok {
		s.rep.Repaired++
		s.recs[recLoc{b, seq}] = salvaged{rec: r}
		return
	}
	r, err := decodeAt(v, parent, b.sink, seq, true, false)
	if err != nil {
		s.addCorrupt(b.sink, corruptRecord(parent, b.sink, seq, v, err, time.Time{}))
		return
	}
	if r.version == recV1 {
		s.v1 = append(s.v1, v1Found{loc: recLoc{b, seq}, raw: append([]byte(nil), v...), rec: r})
		return
	}
	s.recs[recLoc{b, seq}] = salvaged{rec: r}
}

// placeV1 places the version 1 records the walk found, once it knows whether the file
// holds version 2 records only: there they are damage, dead-lettered as corrupt.
func (s *salvager) placeV1() {
	for _, f := range s.v1 {
		if s.v2only {
			s.addCorrupt(f.loc.sink, corruptRecord(bucketFor(f.loc.kind), f.loc.sink, f.loc.seq, f.raw, errV1InV2File, time.Time{}))
			continue
		}
		s.recs[f.loc] = salvaged{rec: f.rec}
	}
	s.v1 = nil
}

// repairVersion reports whether v is a version 2 record whose version byte alone is
// damaged: with the byte set back to 2, its checksum (which covers that byte) and the
// location it names check out. It returns the record decoded from the repaired copy.
func repairVersion(v []byte, parent []byte, sink string, seq uint64) (record, bool) {
	w := restoredVersion(v)
	if w == nil {
		return record{}, false
	}
	r, err := decodeAt(w, parent, sink, seq, true, true)
	return r, err == nil
}

// restoredVersion returns a copy of v with its version byte set to 2, or nil when v
// already says 2 or is too short to be a version 2 record.
func restoredVersion(v []byte) []byte {
	if len(v) < 3+crcSize || v[0] == recVersion {
		return nil
	}
	w := append([]byte(nil), v...)
	w[0] = recVersion
	return w
}

func (s *salvager) addCorrupt(sink string, r record) {
	r.sink = sink
	s.corrupt = append(s.corrupt, salvaged{rec: r})
	s.rep.Corrupt++
}

// scan reads every page the tree walk did not reach and takes the self-describing
// records of every leaf page among them.
func (s *salvager) scan() {
	hdr := make([]byte, boltPageHeaderSize)
	for id := uint64(2); id < s.hwm; id++ {
		if s.visited[id] {
			continue
		}
		if _, err := s.f.ReadAt(hdr, int64(id)*s.pageSize); err != nil {
			continue
		}
		if ne.Uint64(hdr) != id {
			continue // garbage, zeros, or the overflow of a page before it
		}
		if ne.Uint16(hdr[8:]) != pageLeaf {
			continue
		}
		p, err := s.readPage(id)
		if err != nil {
			continue
		}
		s.scanNode(p, 0)
		id += uint64(ne.Uint32(hdr[12:])) // skip its overflow pages
	}
}

// scanNode takes the records of one leaf page found by the scan, and of the inline
// buckets in it.
func (s *salvager) scanNode(p []byte, depth int) {
	if depth > 64 || len(p) < boltPageHeaderSize || ne.Uint16(p[8:]) != pageLeaf {
		return
	}
	count := int(ne.Uint16(p[10:]))
	if boltPageHeaderSize+count*boltElemSize > len(p) {
		return
	}
	for i := range count {
		off := boltPageHeaderSize + i*boltElemSize
		el := p[off : off+boltElemSize]
		eflags := ne.Uint32(el[0:])
		pos, ksize, vsize := uint64(ne.Uint32(el[4:])), uint64(ne.Uint32(el[8:])), uint64(ne.Uint32(el[12:]))
		start := uint64(off) + pos
		if start+ksize+vsize > uint64(len(p)) {
			continue
		}
		k, v := p[start:start+ksize], p[start+ksize:start+ksize+vsize]
		if eflags&leafBucket != 0 {
			if len(v) >= boltBucketHdrSize+boltPageHeaderSize && ne.Uint64(v) == 0 {
				s.scanNode(v[boltBucketHdrSize:], depth+1)
			}
			continue
		}
		seq, ok := keySeq(k)
		if !ok || len(v) == 0 {
			continue
		}
		var r record
		var err error
		repaired := v[0] != recVersion
		if repaired {
			// A version 2 record whose version byte alone is damaged passes its
			// checksum once the byte is put back (the checks below hold it to its
			// key); anything else that reads as version 1 cannot be placed.
			w := restoredVersion(v)
			if w != nil {
				r, err = decodeRecord(w, true)
			}
			if w == nil || err != nil || r.seq != seq || seq == 0 {
				if _, err := decodeRecord(v, false); err == nil && v[0] == recV1 {
					s.rep.UnplacedV1++
				}
				continue
			}
		} else {
			r, err = decodeRecord(v, true)
		}
		if err != nil || r.seq != seq || seq == 0 {
			s.rep.CorruptLost++
			continue
		}
		b := bucketID{r.kind, r.sink}
		if s.complete[b] {
			continue // an old copy from a freed page: the walk read this bucket whole
		}
		loc := recLoc{b, seq}
		if have, ok := s.recs[loc]; ok && (!have.fromScan || have.rec.txid >= r.txid) {
			continue // the walk's copy is live; of two scanned copies the newer wins
		}
		s.recs[loc] = salvaged{rec: r, fromScan: true}
		if repaired {
			s.rep.Repaired++ // counted once placed: a freed page's old copy that loses is not
		}
	}
}

// write creates the store at path with everything salvaged, records at their seqs
// (so each outbox keeps its order), corrupt ones appended to their sink's dead
// letters.
func (s *salvager) write(path string, opts Options) error {
	opts.NoVerify = true
	db, err := Open(path, opts)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, reason := db.Quarantined(); reason != "" {
		return fmt.Errorf("the new file was not fresh: %s", reason)
	}
	locs := make([]recLoc, 0, len(s.recs))
	for l := range s.recs {
		locs = append(locs, l)
	}
	slices.SortFunc(locs, func(a, b recLoc) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.sink, b.sink), cmp.Compare(a.seq, b.seq))
	})
	rep := &s.rep
	// Commit in steps, so a huge store does not need all its pages in memory at once;
	// the file is renamed into place only once every step is done.
	const step = 4096
	for {
		n := min(step, len(locs))
		chunk := locs[:n]
		err := db.update(func(tx *bbolt.Tx) error {
			txid := uint64(tx.ID())
			for _, l := range chunk {
				sb, err := sinkBucket(tx.Bucket(bucketFor(l.kind)), l.sink, true)
				if err != nil {
					return err
				}
				sv := s.recs[l]
				r := sv.rec
				r.place(l.kind, l.sink, l.seq, txid)
				if err := sb.Put(seqKey(l.seq), r.encode()); err != nil {
					return err
				}
				if sb.Sequence() < max(l.seq, s.seqs[l.bucketID]) {
					if err := sb.SetSequence(max(l.seq, s.seqs[l.bucketID])); err != nil {
						return err
					}
				}
				if l.kind == kindOutbox {
					rep.Outbox++
				} else {
					rep.Dead++
				}
				if sv.fromScan {
					rep.FromPageScan++
				}
			}
			if n < len(locs) {
				return nil
			}
			// The last step: empty buckets keep their counters, corrupt records become
			// dead letters, cursors go back.
			for b, seq := range s.seqs {
				sb, err := sinkBucket(tx.Bucket(bucketFor(b.kind)), b.sink, true)
				if err != nil {
					return err
				}
				if sb.Sequence() < seq {
					if err := sb.SetSequence(seq); err != nil {
						return err
					}
				}
			}
			now := time.Now()
			for _, c := range s.corrupt {
				db, err := sinkBucket(tx.Bucket(bucketDead), c.rec.sink, true)
				if err != nil {
					return err
				}
				r := c.rec
				r.at = now
				if _, err := appendRecord(db, kindDead, r.sink, &r, txid); err != nil {
					return err
				}
				rep.Dead++
			}
			cb := tx.Bucket(bucketCursors)
			for k, v := range s.cursors {
				if err := cb.Put([]byte(k), v); err != nil {
					return err
				}
				rep.Cursors++
			}
			return nil
		})
		if err != nil {
			return err
		}
		if locs = locs[n:]; len(locs) == 0 {
			return db.Close()
		}
	}
}

func bucketFor(kind byte) []byte {
	if kind == kindDead {
		return bucketDead
	}
	return bucketOutbox
}

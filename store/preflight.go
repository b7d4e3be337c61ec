package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// The preflight reads a bbolt file with ordinary reads, before bbolt maps it, and
// proves that every page bbolt will touch while opening lies inside the file and
// looks like a page. bbolt trusts the file: it follows page ids through a memory map
// without bounds checks, and it walks the whole tree at Open in a goroutine of its own
// (to rebuild the freelist, since we do not sync it). A truncated file or a wild page
// id there ends in SIGBUS or SIGSEGV, which no recover can catch. With the preflight,
// such a file is reported as corrupt and quarantined instead.
//
// The layout constants below mirror go.etcd.io/bbolt/internal/common (v1.5.0). The file
// is in the host's byte order, as bbolt writes it.

const (
	boltMagic          = 0xED0CDAED
	boltVersion        = 2
	boltPageHeaderSize = 16 // id u64, flags u16, count u16, overflow u32
	boltElemSize       = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	boltMetaSize       = 64 // magic, version, pageSize, flags u32; root, sequence, freelist, pgid, txid, checksum u64
	boltBucketHdrSize  = 16 // root u64, sequence u64
	boltNoFreelist     = ^uint64(0)

	pageBranch   = 0x01
	pageLeaf     = 0x02
	pageMeta     = 0x04
	pageFreelist = 0x10

	leafBucket = 0x01
)

var ne = binary.NativeEndian

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64 // high water mark: first page id past the end of the data
	txid     uint64
}

// readMeta reads the meta page at off and validates it the way bbolt does.
func readMeta(f io.ReaderAt, off int64) (boltMeta, error) {
	var m boltMeta
	buf := make([]byte, boltPageHeaderSize+boltMetaSize)
	if _, err := f.ReadAt(buf, off); err != nil {
		return m, fmt.Errorf("read meta page at %d: %w", off, err)
	}
	if flags := ne.Uint16(buf[8:]); flags != pageMeta {
		return m, fmt.Errorf("meta page at %d has flags %#x", off, flags)
	}
	b := buf[boltPageHeaderSize:]
	if ne.Uint32(b[0:]) != boltMagic {
		return m, fmt.Errorf("meta page at %d: not a bbolt file (bad magic)", off)
	}
	if v := ne.Uint32(b[4:]); v != boltVersion {
		return m, fmt.Errorf("meta page at %d: bbolt format version %d, want %d", off, v, boltVersion)
	}
	h := fnv.New64a()
	_, _ = h.Write(b[:56])
	if h.Sum64() != ne.Uint64(b[56:]) {
		return m, fmt.Errorf("meta page at %d: checksum mismatch", off)
	}
	m.pageSize = ne.Uint32(b[8:])
	m.root = ne.Uint64(b[16:])
	m.freelist = ne.Uint64(b[32:])
	m.hwm = ne.Uint64(b[40:])
	m.txid = ne.Uint64(b[48:])
	return m, nil
}

// preflight checks the file at path as described above. It returns a *corruptError
// when the file is damaged and a plain error when it cannot be read.
func preflight(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	size := st.Size()
	if size == 0 {
		return nil // bbolt initialises empty files
	}

	// Choose the meta page exactly as bbolt does: the page size comes from meta 0, or
	// from meta 1 at the OS page size; then the valid meta with the higher txid wins.
	m0, err0 := readMeta(f, 0)
	pageSize := int64(os.Getpagesize())
	if err0 == nil {
		pageSize = int64(m0.pageSize)
	}
	if pageSize < 1024 || pageSize > 1<<20 || pageSize&(pageSize-1) != 0 {
		return corrupt(fmt.Sprintf("implausible page size %d", pageSize), nil)
	}
	m1, err1 := readMeta(f, pageSize)
	var m boltMeta
	switch {
	case err0 != nil && err1 != nil:
		return corrupt("both meta pages are invalid", fmt.Errorf("%v; %v", err0, err1))
	case err0 == nil && (err1 != nil || m0.txid >= m1.txid):
		m = m0
	default:
		m = m1
	}
	if int64(m.pageSize) != pageSize {
		return corrupt(fmt.Sprintf("meta page sizes disagree (%d, %d)", m.pageSize, pageSize), nil)
	}
	if m.hwm < 3 || m.hwm > uint64(size/pageSize) {
		return corrupt(fmt.Sprintf("file is %d bytes but its meta page says %d pages of %d bytes (truncated?)",
			size, m.hwm, pageSize), nil)
	}

	w := &pageWalker{f: f, pageSize: pageSize, hwm: m.hwm, seen: make([]uint64, (m.hwm+63)/64)}
	w.mark(0)
	w.mark(1)
	if m.freelist != boltNoFreelist {
		if err := w.checkFreelist(m.freelist); err != nil {
			return corrupt("freelist", err)
		}
	}
	if err := w.walkTree(m.root, 0); err != nil {
		return corrupt("page walk", err)
	}
	return nil
}

// pageWalker visits every page reachable from the root bucket with bounds-checked
// reads. It is used by one goroutine.
type pageWalker struct {
	f        io.ReaderAt
	pageSize int64
	hwm      uint64
	seen     []uint64 // bitset of visited page ids, to catch pages referenced twice and cycles
}

func (w *pageWalker) mark(id uint64) bool {
	bit := uint64(1) << (id % 64)
	if w.seen[id/64]&bit != 0 {
		return false
	}
	w.seen[id/64] |= bit
	return true
}

// readPage reads page id with its overflow pages.
func (w *pageWalker) readPage(id uint64) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, fmt.Errorf("page id %d outside [2, %d)", id, w.hwm)
	}
	buf := make([]byte, w.pageSize)
	if _, err := w.f.ReadAt(buf, int64(id)*w.pageSize); err != nil {
		return nil, fmt.Errorf("read page %d: %w", id, err)
	}
	if got := ne.Uint64(buf); got != id {
		return nil, fmt.Errorf("page %d identifies itself as page %d", id, got)
	}
	overflow := uint64(ne.Uint32(buf[12:]))
	if id+overflow >= w.hwm {
		return nil, fmt.Errorf("page %d with %d overflow pages runs past the high water mark %d", id, overflow, w.hwm)
	}
	for i := id; i <= id+overflow; i++ {
		if !w.mark(i) {
			return nil, fmt.Errorf("page %d is referenced twice", i)
		}
	}
	if overflow > 0 {
		buf = append(buf, make([]byte, int64(overflow)*w.pageSize)...)
		if _, err := w.f.ReadAt(buf[w.pageSize:], int64(id+1)*w.pageSize); err != nil {
			return nil, fmt.Errorf("read overflow of page %d: %w", id, err)
		}
	}
	return buf, nil
}

func (w *pageWalker) checkFreelist(id uint64) error {
	p, err := w.readPage(id)
	if err != nil {
		return err
	}
	if flags := ne.Uint16(p[8:]); flags != pageFreelist {
		return fmt.Errorf("page %d: flags %#x, want freelist", id, flags)
	}
	start, count := uint64(boltPageHeaderSize), uint64(ne.Uint16(p[10:]))
	if count == 0xFFFF {
		if len(p) < boltPageHeaderSize+8 {
			return fmt.Errorf("freelist page %d too short", id)
		}
		count = ne.Uint64(p[boltPageHeaderSize:])
		start += 8
	}
	if count > (uint64(len(p))-start)/8 {
		return fmt.Errorf("freelist page %d: %d ids do not fit", id, count)
	}
	for i := uint64(0); i < count; i++ {
		if fid := ne.Uint64(p[start+8*i:]); fid < 2 || fid >= w.hwm {
			return fmt.Errorf("freelist page %d: free page id %d outside [2, %d)", id, fid, w.hwm)
		}
	}
	return nil
}

// walkTree walks the B+tree whose root page is id.
func (w *pageWalker) walkTree(id uint64, depth int) error {
	if depth > 64 {
		return fmt.Errorf("page %d: tree deeper than 64 levels", id)
	}
	p, err := w.readPage(id)
	if err != nil {
		return err
	}
	return w.walkNode(p, id, depth)
}

// walkNode checks one branch or leaf page (p may be an inline bucket's page).
func (w *pageWalker) walkNode(p []byte, id uint64, depth int) error {
	flags, count := ne.Uint16(p[8:]), int(ne.Uint16(p[10:]))
	if boltPageHeaderSize+count*boltElemSize > len(p) {
		return fmt.Errorf("page %d: %d elements do not fit", id, count)
	}
	for i := 0; i < count; i++ {
		off := boltPageHeaderSize + i*boltElemSize
		el := p[off : off+boltElemSize]
		switch flags {
		case pageBranch:
			pos, ksize := uint64(ne.Uint32(el[0:])), uint64(ne.Uint32(el[4:]))
			if uint64(off)+pos+ksize > uint64(len(p)) {
				return fmt.Errorf("page %d: branch element %d key outside the page", id, i)
			}
			if err := w.walkTree(ne.Uint64(el[8:]), depth+1); err != nil {
				return err
			}
		case pageLeaf:
			eflags := ne.Uint32(el[0:])
			pos, ksize, vsize := uint64(ne.Uint32(el[4:])), uint64(ne.Uint32(el[8:])), uint64(ne.Uint32(el[12:]))
			end := uint64(off) + pos + ksize + vsize
			if end > uint64(len(p)) {
				return fmt.Errorf("page %d: leaf element %d outside the page", id, i)
			}
			if eflags&leafBucket != 0 {
				v := p[end-vsize : end]
				if err := w.walkBucket(v, id, depth+1); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("page %d: unexpected page type %#x", id, flags)
		}
	}
	return nil
}

// walkBucket follows a bucket header found in a leaf element of page id.
func (w *pageWalker) walkBucket(v []byte, id uint64, depth int) error {
	if len(v) < boltBucketHdrSize {
		return fmt.Errorf("page %d: bucket header of %d bytes", id, len(v))
	}
	root := ne.Uint64(v)
	if root != 0 {
		return w.walkTree(root, depth)
	}
	inline := v[boltBucketHdrSize:]
	if len(inline) < boltPageHeaderSize {
		return fmt.Errorf("page %d: inline bucket of %d bytes", id, len(inline))
	}
	if flags := ne.Uint16(inline[8:]); flags != pageLeaf {
		return fmt.Errorf("page %d: inline bucket page has flags %#x", id, flags)
	}
	if depth > 64 {
		return fmt.Errorf("page %d: buckets nested deeper than 64 levels", id)
	}
	return w.walkNode(inline, id, depth)
}

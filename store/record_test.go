package store

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRecordRoundTrip(t *testing.T) {
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	tests := []struct {
		name    string
		rec     record
		maxSize int // the encoded length must not exceed this: records stay small
	}{
		// version, flags, kind; sink "hook" (5), seq 300 (2), txid 70000 (3); checksum (4)
		{name: "empty", rec: record{}, maxSize: 3 + 5 + 2 + 3 + 4},
		{name: "fresh entry", rec: record{key: "alert-1", data: []byte(`{"id":1}`), enqueued: t0},
			maxSize: 17 + 6 + 1 + 7 + 8},
		{name: "retried entry", rec: record{key: "k", data: []byte("x"), enqueued: t0, attempts: 3,
			nextAttempt: t0.Add(time.Minute), lastError: "503 service unavailable"}},
		{name: "dead letter", rec: record{key: "k", data: []byte("x"), enqueued: t0, attempts: 9,
			lastError: "400", reason: "permanent: bad request", at: t0.Add(time.Hour)}},
		{name: "corrupt dead letter", rec: record{data: []byte{2, 0, 9}, corrupt: true, reason: "corrupt record: x", at: t0}},
		{name: "pre-1970 time", rec: record{enqueued: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{name: "binary data", rec: record{data: []byte{0, 1, 2, 255, 254}}},
		{name: "long key", rec: record{key: strings.Repeat("k", 300)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.rec
			rec.place(kindOutbox, "hook", 300, 70000)
			enc := rec.encode()
			require.LessOrEqual(t, len(enc), rec.size(), "size() must bound the encoding")
			if tc.maxSize > 0 {
				require.LessOrEqual(t, len(enc), tc.maxSize, "record grew")
			}
			got, err := decodeAt(enc, bucketOutbox, "hook", 300, true, false)
			require.NoError(t, err)
			want := rec
			if len(want.data) == 0 {
				want.data = nil
			}
			require.Equal(t, want, got)

			// Without copying, Data aliases the input.
			alias, err := decodeRecord(enc, false)
			require.NoError(t, err)
			if len(alias.data) > 0 {
				enc[len(enc)-crcSize-1] ^= 0xff
				require.NotEqual(t, got.data, alias.data)
			}

			// The version 1 encoding of the same fields still reads, without a location.
			if rec.corrupt {
				return
			}
			v1, err := decodeAt(rec.appendV1(nil), bucketDead, "other", 1, true, false)
			require.NoError(t, err, "a version 1 record is trusted wherever it is")
			want.version, want.kind, want.sink, want.seq, want.txid = recV1, 0, "", 0, 0
			require.Equal(t, want, v1)
		})
	}
}

func TestRecordChecksumCoversEveryByte(t *testing.T) {
	r := record{key: "k", data: []byte("payload"), enqueued: time.Unix(1, 0), attempts: 2, lastError: "e"}
	r.place(kindDead, "hook", 7, 9)
	enc := r.encode()
	for i := range enc {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(enc)
			bad[i] ^= bit
			_, err := decodeRecord(bad, true)
			require.Error(t, err, "flipping bit %#x of byte %d must be caught", bit, i)
		}
	}
	_, err := decodeRecord(enc[:len(enc)-1], true)
	require.ErrorIs(t, err, errChecksum)
}

func TestRecordMisplaced(t *testing.T) {
	r := record{data: []byte("x")}
	r.place(kindOutbox, "hook", 7, 9)
	enc := r.encode()
	for _, tc := range []struct {
		parent []byte
		sink   string
		seq    uint64
	}{{bucketDead, "hook", 7}, {bucketOutbox, "other", 7}, {bucketOutbox, "hook", 8}} {
		_, err := decodeAt(enc, tc.parent, tc.sink, tc.seq, false, false)
		require.ErrorContains(t, err, "record says it is outbox/hook/7: misplaced")
	}
}

func TestRecordTimesAreMilliseconds(t *testing.T) {
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 891_234_567, time.FixedZone("x", 3600))
	r := record{enqueued: t0, nextAttempt: t0, at: t0}
	r.place(kindOutbox, "s", 1, 1)
	got, err := decodeRecord(r.encode(), true)
	require.NoError(t, err)
	want := t0.Truncate(time.Millisecond)
	for _, tm := range []time.Time{got.enqueued, got.nextAttempt, got.at} {
		require.True(t, tm.Equal(want), "got %v want %v", tm, want)
		require.Equal(t, time.UTC, tm.Location())
	}
}

// v2 builds a version 2 record from its body (the bytes after the version byte) with
// a valid checksum.
func v2(body ...byte) []byte {
	b := append([]byte{recVersion}, body...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func TestDecodeRecordErrors(t *testing.T) {
	valid := (&record{key: "key", lastError: "err", reason: "why", attempts: 2, enqueued: time.Unix(1, 0)}).appendV1(nil)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{name: "nil", in: nil, want: "truncated"},
		{name: "one byte", in: []byte{1}, want: "truncated"},
		{name: "unknown version", in: []byte{3, 0}, want: "version 3"},
		{name: "v1 unknown flags", in: []byte{1, 0x80}, want: "unknown record flags"},
		{name: "missing enqueued", in: []byte{1, fEnqueued}, want: "enqueued"},
		{name: "missing attempts", in: []byte{1, fAttempts}, want: "attempts"},
		{name: "huge attempts", in: []byte{1, fAttempts, 0xff, 0xff, 0xff, 0xff, 0x0f}, want: "out of range"},
		{name: "missing next", in: []byte{1, fNext}, want: "next attempt"},
		{name: "missing at", in: []byte{1, fAt}, want: "dead-letter time"},
		{name: "key longer than record", in: []byte{1, fKey, 10, 'a'}, want: "key"},
		{name: "missing last error", in: []byte{1, fLastErr}, want: "last error"},
		{name: "missing reason", in: []byte{1, fReason}, want: "reason"},
		{name: "truncated v1 record", in: valid[:len(valid)-2], want: "reason"},
		{name: "v2 too short", in: []byte{2, 0, 1, 0}, want: "truncated"},
		{name: "v2 bad checksum", in: []byte{2, 0, 1, 0, 1, 1, 0, 0, 0, 0}, want: "checksum mismatch"},
		{name: "v2 unknown kind", in: v2(0, 7, 0, 1, 1), want: "unknown record kind 7"},
		{name: "v2 sink longer than record", in: v2(0, 1, 9, 'a'), want: "sink"},
		{name: "v2 missing seq", in: v2(0, 1, 0), want: "seq"},
		{name: "v2 missing txid", in: v2(0, 1, 0, 1), want: "txid"},
		{name: "v2 missing field", in: v2(fKey, 1, 0, 1, 1), want: "key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeRecord(tc.in, true)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestSeqKeyOrder(t *testing.T) {
	seqs := []uint64{1, 2, 255, 256, 1 << 32, 1<<64 - 1}
	for i := 1; i < len(seqs); i++ {
		require.Equal(t, -1, bytes.Compare(seqKey(seqs[i-1]), seqKey(seqs[i])))
	}
	for _, s := range seqs {
		got, ok := keySeq(seqKey(s))
		require.True(t, ok)
		require.Equal(t, s, got)
	}
	_, ok := keySeq([]byte{1, 2, 3})
	require.False(t, ok)
}

package store

import (
	"bytes"
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
		{name: "empty", rec: record{}, maxSize: 2},
		{name: "fresh entry", rec: record{key: "alert-1", data: []byte(`{"id":1}`), enqueued: t0}, maxSize: 2 + 6 + 1 + 7 + 8},
		{name: "retried entry", rec: record{key: "k", data: []byte("x"), enqueued: t0, attempts: 3,
			nextAttempt: t0.Add(time.Minute), lastError: "503 service unavailable"}},
		{name: "dead letter", rec: record{key: "k", data: []byte("x"), enqueued: t0, attempts: 9,
			lastError: "400", reason: "permanent: bad request", at: t0.Add(time.Hour)}},
		{name: "pre-1970 time", rec: record{enqueued: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{name: "binary data", rec: record{data: []byte{0, 1, 2, 255, 254}}},
		{name: "long key", rec: record{key: strings.Repeat("k", 300)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := tc.rec.encode()
			require.LessOrEqual(t, len(enc), tc.rec.size(), "size() must bound the encoding")
			if tc.maxSize > 0 {
				require.LessOrEqual(t, len(enc), tc.maxSize, "record grew")
			}
			got, err := decodeRecord(enc, true)
			require.NoError(t, err)
			want := tc.rec
			if len(want.data) == 0 {
				want.data = nil
			}
			require.Equal(t, want, got)

			// Without copying, Data aliases the input.
			alias, err := decodeRecord(enc, false)
			require.NoError(t, err)
			if len(alias.data) > 0 {
				enc[len(enc)-1] ^= 0xff
				require.NotEqual(t, got.data, alias.data)
			}
		})
	}
}

func TestRecordTimesAreMilliseconds(t *testing.T) {
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 891_234_567, time.FixedZone("x", 3600))
	r := record{enqueued: t0, nextAttempt: t0, at: t0}
	got, err := decodeRecord(r.encode(), true)
	require.NoError(t, err)
	want := t0.Truncate(time.Millisecond)
	for _, tm := range []time.Time{got.enqueued, got.nextAttempt, got.at} {
		require.True(t, tm.Equal(want), "got %v want %v", tm, want)
		require.Equal(t, time.UTC, tm.Location())
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	valid := (&record{key: "key", lastError: "err", reason: "why", attempts: 2, enqueued: time.Unix(1, 0)}).encode()
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{name: "nil", in: nil, want: "truncated"},
		{name: "one byte", in: []byte{1}, want: "truncated"},
		{name: "unknown version", in: []byte{2, 0}, want: "version 2"},
		{name: "unknown flags", in: []byte{1, 0x80}, want: "unknown record flags"},
		{name: "missing enqueued", in: []byte{1, fEnqueued}, want: "enqueued"},
		{name: "missing attempts", in: []byte{1, fAttempts}, want: "attempts"},
		{name: "huge attempts", in: []byte{1, fAttempts, 0xff, 0xff, 0xff, 0xff, 0x0f}, want: "out of range"},
		{name: "missing next", in: []byte{1, fNext}, want: "next attempt"},
		{name: "missing at", in: []byte{1, fAt}, want: "dead-letter time"},
		{name: "key longer than record", in: []byte{1, fKey, 10, 'a'}, want: "key"},
		{name: "missing last error", in: []byte{1, fLastErr}, want: "last error"},
		{name: "missing reason", in: []byte{1, fReason}, want: "reason"},
		{name: "truncated valid record", in: valid[:len(valid)-2], want: "reason"},
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

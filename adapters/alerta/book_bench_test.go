package alerta

import (
	"fmt"
	"testing"
	"time"
)

// fullBook is a book of n alerts with random UUIDs, each received once.
func fullBook(b *testing.B, n int) (*Book, []string) {
	b.Helper()
	book := NewBook(n)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = NewUUID()
		a := testAlert(ids[i], fmt.Sprintf("res%d", i), "E", "major")
		if _, _, _, err := book.Receive(a, t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
	return book, ids
}

// BenchmarkResolve100k resolves 8-char short ids in a book of 100k alerts: it must
// stay O(log n), not a scan per request.
func BenchmarkResolve100k(b *testing.B) {
	book, ids := fullBook(b, 100000)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := book.Resolve(ids[i%len(ids)][:8]); !ok {
			b.Fatal("not found")
		}
	}
}

// BenchmarkReceiveFull100k creates alerts in a full book of 100k, each evicting
// the oldest.
func BenchmarkReceiveFull100k(b *testing.B) {
	book, _ := fullBook(b, 100000)
	now := t0.Add(time.Hour)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		a := testAlert(fmt.Sprintf("new-%d", i), fmt.Sprintf("new%d", i), "E", "major")
		if _, _, _, err := book.Receive(a, now.Add(time.Duration(i))); err != nil {
			b.Fatal(err)
		}
	}
}

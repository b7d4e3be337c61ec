package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store"
)

// retrySelection keeps out of a retry the dead letters that are only the truncated
// record of an oversize event (pipeline.Truncated): they are not the event, and
// delivering them would hand a sink a prefix as if it were the alert. Named ones
// refuse the whole command, nothing moved; with --all (seqs nil) the others are
// retried and the truncated ones stay, with a line saying so. It returns the seqs
// to hand to store.Retry.
func retrySelection(db *store.DB, sink string, seqs []uint64, stdout io.Writer) ([]uint64, error) {
	want := map[uint64]bool{}
	for _, s := range seqs {
		want[s] = true
	}
	var keep []uint64
	var cut []string
	err := db.ScanDead(sink, 0, 0, func(d store.Dead) error {
		if seqs != nil && !want[d.Seq] {
			return nil
		}
		var ev adapters.Event
		if ev.UnmarshalBinary(d.Data) == nil {
			if size, ok := pipeline.Truncated(&ev); ok {
				cut = append(cut, fmt.Sprintf("%d (event %s, %d bytes)", d.Seq, ev.ID, size))
				return nil
			}
		}
		keep = append(keep, d.Seq)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(cut) == 0 {
		return seqs, nil
	}
	why := fmt.Sprintf("dead letter(s) %s of %s are only the first %d bytes of events over store.max_event_bytes, not the events: they cannot be retried (see them with queue list --dead, remove them with queue drop --dead)",
		strings.Join(cut, ", "), sink, pipeline.RejectPrefixBytes)
	if seqs != nil {
		return nil, fmt.Errorf("nothing retried: %s", why)
	}
	fmt.Fprintf(stdout, "left in place: %s\n", why)
	if keep == nil {
		keep = []uint64{} // none, not all
	}
	return keep, nil
}

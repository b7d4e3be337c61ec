package main

import (
	"fmt"
	"io"

	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store"
)

// retrySelection keeps out of a retry the dead letters that are not the event: the
// truncated record of an oversize event, a corrupt or an undecodable record
// (pipeline.SplitTruncated, the rule the running daemon's status page applies too).
// Named ones refuse the whole command, nothing moved; with --all (seqs nil) the others
// are retried and those stay, with a line saying which and why. It returns the seqs
// to hand to store.Retry.
func retrySelection(db *store.DB, sink string, seqs []uint64, stdout io.Writer) ([]uint64, error) {
	keep, cut, err := pipeline.SplitTruncated(db, sink, seqs)
	if err != nil || len(cut) == 0 {
		return keep, err
	}
	why := pipeline.TruncatedReason(sink, cut)
	if seqs != nil {
		return nil, fmt.Errorf("nothing retried: %s", why)
	}
	fmt.Fprintf(stdout, "left in place: %s\n", why)
	return keep, nil
}

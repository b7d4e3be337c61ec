package lifecycle

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/edgerelay/edgerelay/store"
)

// NodeCursor is the store cursor that holds the node id and the version of the
// last start.
const NodeCursor = "lifecycle/node"

type nodeRecord struct {
	ID      string `json:"id"`
	Version string `json:"version"`
}

// RecordNode reads this node's id and last version from db and records version as
// the current one: on the first start on a store it generates the id (Registered);
// it writes only when something changed, so a restart of the same version writes
// nothing. A record that does not decode is replaced (a new id, Registered), as for
// a new store.
func RecordNode(db *store.DB, version string, now time.Time) (Node, error) {
	raw, err := db.Cursor(NodeCursor)
	if err != nil {
		return Node{}, fmt.Errorf("read the node id: %w", err)
	}
	var rec nodeRecord
	n := Node{}
	if raw == nil || json.Unmarshal(raw, &rec) != nil || rec.ID == "" {
		rec = nodeRecord{ID: NewID(now)}
		n.Registered = true
	} else {
		n.Previous = rec.Version
	}
	n.ID = rec.ID
	if n.Registered || rec.Version != version {
		rec.Version = version
		b, _ := json.Marshal(rec)
		batch := new(store.Batch)
		batch.SetCursor(NodeCursor, b)
		if err := db.Commit(batch); err != nil {
			return Node{}, fmt.Errorf("record the node id: %w", err)
		}
	}
	return n, nil
}

// ReadNode returns the node id and recorded version without writing (for `config
// check` and the status page); the zero Node when none is recorded yet.
func ReadNode(db *store.DB) (Node, string, error) {
	raw, err := db.Cursor(NodeCursor)
	if err != nil || raw == nil {
		return Node{}, "", err
	}
	var rec nodeRecord
	if json.Unmarshal(raw, &rec) != nil {
		return Node{}, "", nil
	}
	return Node{ID: rec.ID}, rec.Version, nil
}

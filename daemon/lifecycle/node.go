package lifecycle

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/edgerelay/edgerelay/store"
)

// NodeCursor is the store cursor that holds the node id and the version last
// announced (edge.node.started published), or, with publishing off, last started.
const NodeCursor = "lifecycle/node"

type nodeRecord struct {
	ID      string `json:"id"`
	Version string `json:"version"`
}

// LoadNode reads this node's record from db. On the first start on a store (no
// record, or one that does not decode) it generates the node id and records it at
// once, with no version: the node is Registered until a start announced itself
// (RecordVersion), so a first start that failed, or stopped before its sources
// subscribed, registers again next time. A restart of the same version writes
// nothing.
func LoadNode(db *store.DB, now time.Time) (Node, error) {
	raw, err := db.Cursor(NodeCursor)
	if err != nil {
		return Node{}, fmt.Errorf("read the node id: %w", err)
	}
	var rec nodeRecord
	if raw == nil || json.Unmarshal(raw, &rec) != nil || rec.ID == "" {
		rec = nodeRecord{ID: NewID(now)}
		if err := writeNode(db, rec); err != nil {
			return Node{ID: rec.ID, Registered: true}, err
		}
	}
	return Node{ID: rec.ID, Registered: rec.Version == "", Previous: rec.Version}, nil
}

// RecordVersion records version as the one this node announced.
func RecordVersion(db *store.DB, id, version string) error {
	return writeNode(db, nodeRecord{ID: id, Version: version})
}

func writeNode(db *store.DB, rec nodeRecord) error {
	b, _ := json.Marshal(rec)
	batch := new(store.Batch)
	batch.SetCursor(NodeCursor, b)
	if err := db.Commit(batch); err != nil {
		return fmt.Errorf("record the node id: %w", err)
	}
	return nil
}

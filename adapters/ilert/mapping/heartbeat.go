package mapping

import "encoding/json"

// HeartbeatKey returns the integration key of a heartbeat message: the non-empty string
// integrationKey or apiKey of a JSON object (integrationKey wins when both are set;
// other fields are ignored). It returns false for anything else, which ilagent
// acknowledges and drops.
func HeartbeatKey(payload []byte) (string, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(payload, &obj); err != nil || obj == nil {
		return "", false
	}
	for _, name := range []string{"integrationKey", "apiKey"} {
		var s *string
		if raw, ok := obj[name]; ok && json.Unmarshal(raw, &s) == nil && s != nil && *s != "" {
			return *s, true
		}
	}
	return "", false
}

// Package keypath reads an event's ordering key out of a JSON payload, for the sources
// that offer a key_path setting.
package keypath

import "github.com/tidwall/gjson"

// Key returns the string value at path (a gjson path such as "alert.id") in a JSON
// payload, or fallback when path is empty, the payload is not JSON, or the value is
// missing or empty. Numbers and other scalars are returned in their JSON text.
func Key(path, fallback string, payload []byte) string {
	if path == "" || !gjson.ValidBytes(payload) {
		return fallback
	}
	v := gjson.GetBytes(payload, path)
	if !v.Exists() || v.String() == "" {
		return fallback
	}
	return v.String()
}

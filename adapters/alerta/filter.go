package alerta

import (
	"slices"
	"strings"
)

// Filter is a destination's forward list (§1.3): Alerta's words, matched exactly
// and case-sensitively. "*" forwards everything; "alerts" the alerts (and no
// action); "actions" every action, custom ones and the housekeeping expired and
// timeout included; an action's name that action; "delete" the deletes;
// "heartbeats", edgerelay's own word, the heartbeats. Other words are ignored.
type Filter []string

// Alerta's filter words, its built-in action names among them, and ours.
var filterWords = []string{
	"*", "alerts", "actions", "delete", "heartbeats",
	"open", "assign", "ack", "unack", "shelve", "unshelve", "close", "expired", "timeout",
}

// Near misses of the words that are almost surely typing errors, not custom
// actions.
var filterTypos = []string{"alert", "action", "heartbeat", "deletes", "all", "any"}

func (f Filter) has(w string) bool { return slices.Contains(f, w) }

// Alerts reports whether alerts are forwarded: "*" or "alerts".
func (f Filter) Alerts() bool { return f.has("*") || f.has("alerts") }

// Action reports whether the action named name is forwarded: "*", "actions" or the
// exact name.
func (f Filter) Action(name string) bool { return f.has("*") || f.has("actions") || f.has(name) }

// Delete reports whether deletes are forwarded: "*" or "delete".
func (f Filter) Delete() bool { return f.has("*") || f.has("delete") }

// Heartbeats reports whether heartbeats are forwarded: "*" or "heartbeats". Alerta
// forwards none; a stock Alerta destination accepts them (POST /heartbeat needs the
// write:heartbeats scope, which a Hawk credential has).
func (f Filter) Heartbeats() bool { return f.has("*") || f.has("heartbeats") }

// Unknown returns the words that are neither Alerta's (nor "heartbeats") nor a
// plausible custom action name, in the list's order, for a configuration warning:
// a word ValidAction refuses, one with a space or a comma, one that differs from a
// known word only in case ("Alerts") and a near miss ("alert", "all").
func (f Filter) Unknown() []string {
	var out []string
	for _, w := range f {
		if slices.Contains(filterWords, w) {
			continue
		}
		bad := !ValidAction(w) || strings.ContainsAny(w, " ,") || slices.Contains(filterTypos, strings.ToLower(w))
		for _, k := range filterWords {
			if strings.EqualFold(w, k) {
				bad = true
			}
		}
		if bad {
			out = append(out, w)
		}
	}
	return out
}

package topic

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// refMatch is MQTT 3.1.1 §4.7 written as plainly as possible, for FuzzMatch to hold
// Match against: both sides split into levels, '+' takes exactly one level (an empty
// one too), '#' takes the parent level and everything below it, and a topic starting
// with '$' is never matched by a wildcard in the first level (§4.7.2). f is a valid
// filter without the $share prefix, topic a valid topic name.
func refMatch(f, topic string) bool {
	fl, tl := strings.Split(f, "/"), strings.Split(topic, "/")
	if strings.HasPrefix(topic, "$") && (fl[0] == "+" || fl[0] == "#") {
		return false
	}
	for i, l := range fl {
		if l == "#" {
			return true // valid filters have it only last; it also matches the parent
		}
		if i >= len(tl) || l != "+" && l != tl[i] {
			return false
		}
	}
	return len(fl) == len(tl)
}

// validName reports whether topic is a valid MQTT topic name (§4.7.3): not empty,
// UTF-8 without NUL, no wildcard characters.
func validName(topic string) bool {
	return topic != "" && len(topic) <= 65535 && utf8.ValidString(topic) &&
		!strings.ContainsAny(topic, "+#\x00")
}

// FuzzMatch holds Match to refMatch for every valid filter and topic name, checks
// that a shared subscription matches what its filter matches, and that no input,
// valid or not, panics Validate, Match or Unshare.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"a/b", "a/b"}, {"a/+", "a/b/c"}, {"a/#", "a"}, {"#", "$SYS/x"}, {"+/x", "$SYS/x"},
		{"$SYS/#", "$SYS/x"}, {"+", ""}, {"a/+", "a/"}, {"/+", "/x"}, {"+/+", "/"},
		{"$share/g/a/+", "a/b"}, {"$share/g/#", "$x"}, {"$share/g", "g"}, {"a/#/b", "a/x/b"},
		{"#", "/"}, {"a//b", "a//b"}, {"+/#", "a"}, {"$share//a", "a"}, {"/#", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		err := Validate(filter)
		got := Match(filter, topic)
		plain := Unshare(filter)
		if strings.HasPrefix(filter, sharePrefix) && plain != filter {
			if m := Match(plain, topic); m != got {
				t.Fatalf("Match(%q, %q) = %v but its filter %q gives %v", filter, topic, got, plain, m)
			}
		}
		if err != nil || !validName(topic) {
			return
		}
		if want := refMatch(plain, topic); got != want {
			t.Fatalf("Match(%q, %q) = %v, want %v (MQTT 3.1.1 §4.7)", filter, topic, got, want)
		}
	})
}

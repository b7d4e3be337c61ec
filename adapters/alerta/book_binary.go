package alerta

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// storedVersion is the first byte of a Stored's binary encoding. A change of the
// layout takes a new version; UnmarshalBinary refuses versions it does not know.
const storedVersion = 1

// Flag bits of the encoding.
const (
	flagRepeat = 1 << iota
	flagCustomer
	flagValue
	flagRawData
	flagBody
	flagsKnown = flagRepeat | flagCustomer | flagValue | flagRawData | flagBody
)

// The seconds of 0001-01-01 and 9999-12-31T23:59:59 UTC: a time outside them
// cannot be written in TimeLayout, so a value holding one is corrupt.
const (
	minUnix = -62135596800
	maxUnix = 253402300799
)

// ErrStoredTooLarge is returned by MarshalBinaryLimit when an alert does not fit
// even without its Body and rawData.
var ErrStoredTooLarge = errors.New("stored alert is over the value limit")

// MarshalBinary encodes s compactly: a version byte, a flag word, then every field
// in a fixed order, strings and lists length-prefixed with uvarints.
func (s *Stored) MarshalBinary() ([]byte, error) {
	return s.appendBinary(make([]byte, 0, 256), true, true), nil
}

// MarshalBinaryLimit encodes s in at most limit bytes: when the whole alert does
// not fit it drops the Body first (the node then cannot re-send the alert after a
// 404), then the rawData; if it still does not fit, ErrStoredTooLarge.
func (s *Stored) MarshalBinaryLimit(limit int) ([]byte, error) {
	out := s.appendBinary(nil, true, true)
	if len(out) <= limit {
		return out, nil
	}
	out = s.appendBinary(out[:0], false, true)
	if len(out) <= limit {
		return out, nil
	}
	out = s.appendBinary(out[:0], false, false)
	if len(out) <= limit {
		return out, nil
	}
	return nil, fmt.Errorf("alert %q is %d bytes encoded: %w", clipString(s.ID, 64), len(out), ErrStoredTooLarge)
}

// Size is the length of s's binary encoding.
func (s *Stored) Size() int { return len(s.appendBinary(nil, true, true)) }

func (s *Stored) sizeWithoutBody() int { return len(s.appendBinary(nil, false, true)) }

// bodySize is what a Body adds to the encoding's length: its uvarint length and its
// bytes (the flag word stays one byte), so Size is sizeWithoutBody + bodySize(Body)
// without encoding the body a second time.
func bodySize(body []byte) int {
	if body == nil {
		return 0
	}
	return len(binary.AppendUvarint(nil, uint64(len(body)))) + len(body)
}

func (s *Stored) appendBinary(b []byte, body, raw bool) []byte {
	var flags uint64
	if s.Repeat {
		flags |= flagRepeat
	}
	if s.Customer != nil {
		flags |= flagCustomer
	}
	if s.Value != nil {
		flags |= flagValue
	}
	if raw && s.RawData != nil {
		flags |= flagRawData
	}
	if body && s.Body != nil {
		flags |= flagBody
	}
	b = append(b, storedVersion)
	b = binary.AppendUvarint(b, flags)
	for _, v := range []string{s.ID, s.LastReceiveID, s.Environment, s.Resource, s.Event,
		s.Severity, s.Status, s.PreviousStatus, s.BeforeAck, s.BeforeShelve,
		s.PreviousSeverity, s.TrendIndication, s.DedupKey, s.Group, s.Text, s.Origin, s.Type} {
		b = appendString(b, v)
	}
	if s.Customer != nil {
		b = appendString(b, *s.Customer)
	}
	if s.Value != nil {
		b = appendString(b, *s.Value)
	}
	if flags&flagRawData != 0 {
		b = appendString(b, *s.RawData)
	}
	b = binary.AppendUvarint(b, uint64(max(s.DuplicateCount, 0)))
	b = binary.AppendUvarint(b, uint64(max(s.Timeout, 0)))
	for _, t := range []time.Time{s.CreateTime, s.ReceiveTime, s.LastReceiveTime, s.UpdateTime} {
		b = appendTime(b, t)
	}
	for _, l := range [][]string{s.Correlate, s.Service, s.Tags} {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, v := range l {
			b = appendString(b, v)
		}
	}
	if len(s.Attributes) == 0 {
		b = appendString(b, "{}")
	} else {
		b = appendString(b, string(s.Attributes))
	}
	if flags&flagBody != 0 {
		b = appendString(b, string(s.Body))
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime writes 0 for the zero time, else 1, the Unix seconds (varint) and the
// nanoseconds.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// UnmarshalBinary decodes what MarshalBinary wrote. A value that is truncated, has
// trailing bytes, an unknown version or flag, an out-of-range number or time, no
// id, resource or event, an unknown severity or attributes that are not a JSON
// object is an error; it never panics and allocates at most about the input's
// size.
func (s *Stored) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	if v := d.byte(); d.err == nil && v != storedVersion {
		return fmt.Errorf("stored alert: unknown encoding version %d", v)
	}
	flags := d.uvarint()
	if d.err == nil && flags&^flagsKnown != 0 {
		return fmt.Errorf("stored alert: unknown flags %#x", flags)
	}
	var n Stored
	for _, p := range []*string{&n.ID, &n.LastReceiveID, &n.Environment, &n.Resource, &n.Event,
		&n.Severity, &n.Status, &n.PreviousStatus, &n.BeforeAck, &n.BeforeShelve,
		&n.PreviousSeverity, &n.TrendIndication, &n.DedupKey, &n.Group, &n.Text, &n.Origin, &n.Type} {
		*p = d.string()
	}
	if flags&flagCustomer != 0 {
		v := d.string()
		n.Customer = &v
	}
	if flags&flagValue != 0 {
		v := d.string()
		n.Value = &v
	}
	if flags&flagRawData != 0 {
		v := d.string()
		n.RawData = &v
	}
	n.Repeat = flags&flagRepeat != 0
	n.DuplicateCount = d.int()
	n.Timeout = d.int()
	for _, p := range []*time.Time{&n.CreateTime, &n.ReceiveTime, &n.LastReceiveTime, &n.UpdateTime} {
		*p = d.time()
	}
	for _, p := range []*[]string{&n.Correlate, &n.Service, &n.Tags} {
		*p = d.strings()
	}
	n.Attributes = []byte(d.string())
	if flags&flagBody != 0 {
		n.Body = []byte(d.string())
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("stored alert: %w", d.err)
	}
	switch {
	case n.ID == "":
		return errors.New("stored alert: no id")
	case n.Resource == "" || n.Event == "":
		return errors.New("stored alert: no resource or event")
	}
	if _, ok := SeverityCode(n.Severity); !ok {
		return fmt.Errorf("stored alert: unknown severity %q", clipString(n.Severity, 32))
	}
	if _, err := objectMembers(n.Attributes); err != nil {
		return fmt.Errorf("stored alert: attributes: %w", err)
	}
	*s = n
	return nil
}

// decoder reads the encoding; the first error sticks and later reads return zero
// values.
type decoder struct {
	b   []byte
	err error
}

var errTruncated = errors.New("truncated")

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = errTruncated
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 { return readVarint(d, binary.Uvarint, "bad uvarint") }

func (d *decoder) varint() int64 { return readVarint(d, binary.Varint, "bad varint") }

// readVarint reads one number with read (binary.Uvarint or binary.Varint); a
// malformed one sets d.err to bad.
func readVarint[T uint64 | int64](d *decoder, read func([]byte) (T, int), bad string) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b)
	if n <= 0 {
		d.err = errors.New(bad)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int reads a count that must fit an int32, so the value means the same on the
// 32-bit gateways.
func (d *decoder) int() int {
	v := d.uvarint()
	if d.err == nil && v > math.MaxInt32 {
		d.err = fmt.Errorf("number %d out of range", v)
		return 0
	}
	return int(v)
}

func (d *decoder) string() string {
	l := d.uvarint()
	if d.err != nil {
		return ""
	}
	if l > uint64(len(d.b)) {
		d.err = errTruncated
		return ""
	}
	v := string(d.b[:l])
	d.b = d.b[l:]
	return v
}

func (d *decoder) strings() []string {
	l := d.uvarint()
	if d.err != nil {
		return nil
	}
	// Every element takes at least its length byte, so a count beyond the bytes
	// left is corrupt, and the allocation stays bounded by the input.
	if l > uint64(len(d.b)) {
		d.err = errTruncated
		return nil
	}
	if l == 0 {
		return nil
	}
	out := make([]string, 0, l)
	for i := uint64(0); i < l && d.err == nil; i++ {
		out = append(out, d.string())
	}
	return out
}

func (d *decoder) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
	default:
		if d.err == nil {
			d.err = errors.New("bad time tag")
		}
		return time.Time{}
	}
	sec := d.varint()
	nsec := d.uvarint()
	if d.err != nil {
		return time.Time{}
	}
	if sec < minUnix || sec > maxUnix || nsec >= 1e9 {
		d.err = errors.New("time out of range")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

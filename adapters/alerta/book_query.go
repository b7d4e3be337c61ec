package alerta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Paging defaults of GET /alerts.
const (
	// DefaultPageSize is Alerta's DEFAULT_PAGE_SIZE (QUERY_LIMIT).
	DefaultPageSize = 50
	// MaxPageSize caps page-size, which Alerta does not: one answer stays a few MB
	// at most on a gateway.
	MaxPageSize = 1000
	// MaxSortKeys bounds the distinct sort-by terms of one query, which Alerta does
	// not: each term costs a comparison of every pair the sort compares, and the
	// query holds the book's lock.
	MaxSortKeys = 16
)

// queryExcluded are the parameters that are not field filters (Alerta's
// EXCLUDE_FROM_QUERY).
var queryExcluded = map[string]bool{
	"_": true, "callback": true, "token": true, "api-key": true, "q": true, "q.df": true,
	"id": true, "from-date": true, "to-date": true, "sort-by": true, "group-by": true,
	"page": true, "page-size": true, "limit": true, "show-raw-data": true, "show-history": true,
}

// queryField is one field of Alerta's VALID_PARAMS for alerts: how to filter on it
// (nil: not a filter), whether it sorts and in which default direction.
type queryField struct {
	filter  bool
	sortDir int // 0: not sortable; 1 ascending; -1 descending (the times)
}

var queryFields = map[string]queryField{
	"id": {filter: true}, "resource": {true, 1}, "event": {true, 1}, "environment": {true, 1},
	"severity": {true, 1}, "correlate": {true, 1}, "status": {true, 1}, "service": {true, 1},
	"group": {true, 1}, "value": {true, 1}, "text": {true, 1}, "tag": {filter: true},
	"tags": {sortDir: 1}, "attributes": {true, 1}, "origin": {true, 1}, "type": {true, 1},
	"createTime": {true, -1}, "timeout": {true, 1}, "rawData": {true, 1}, "customer": {true, 1},
	"duplicateCount": {true, 1}, "repeat": {true, 1}, "previousSeverity": {true, 1},
	"trendIndication": {true, 1}, "receiveTime": {true, -1}, "lastReceiveId": {true, 1},
	"lastReceiveTime": {true, -1}, "updateTime": {true, -1},
}

// statusOrder is Alerta's STATUS_MAP, the order of sort-by=status.
var statusOrder = map[string]string{
	statusOpen: "A", statusAssign: "B", statusAck: "C", statusShelved: "D",
	statusBlackout: "E", statusClosed: "F", statusExpired: "G", statusUnknown: "H",
}

// fieldValues returns the values of field for a filter: one for a scalar, the
// elements for a list; ok is false for SQL NULL, which no comparison matches.
func fieldValues(s *Stored, field string) (vals []string, list, ok bool) {
	one := func(v string) ([]string, bool, bool) { return []string{v}, false, true }
	ptr := func(p *string) ([]string, bool, bool) {
		if p == nil {
			return nil, false, false
		}
		return one(*p)
	}
	tm := func(t time.Time) ([]string, bool, bool) {
		if t.IsZero() {
			return nil, false, false
		}
		return one(t.UTC().Format(TimeLayout))
	}
	switch field {
	case "resource":
		return one(s.Resource)
	case "event":
		return one(s.Event)
	case "environment":
		return one(s.Environment)
	case "severity":
		return one(s.Severity)
	case "status":
		return one(s.Status)
	case "group":
		return one(s.Group)
	case "text":
		return one(s.Text)
	case "origin":
		return one(s.Origin)
	case "type":
		return one(s.Type)
	case "previousSeverity":
		return one(s.PreviousSeverity)
	case "trendIndication":
		return one(s.TrendIndication)
	case "lastReceiveId":
		return one(s.LastReceiveID)
	case "value":
		return ptr(s.Value)
	case "rawData":
		return ptr(s.RawData)
	case "customer":
		return ptr(s.Customer)
	case "timeout":
		return one(strconv.Itoa(s.Timeout))
	case "duplicateCount":
		return one(strconv.Itoa(s.DuplicateCount))
	case "repeat":
		return one(strconv.FormatBool(s.Repeat))
	case "createTime":
		return tm(s.CreateTime)
	case "receiveTime":
		return tm(s.ReceiveTime)
	case "lastReceiveTime":
		return tm(s.LastReceiveTime)
	case "updateTime":
		return tm(s.UpdateTime)
	case "correlate":
		return s.Correlate, true, true
	case "service":
		return s.Service, true, true
	case "tag":
		return s.Tags, true, true
	}
	return nil, false, false
}

// filter is one compiled field filter.
type filter func(s *Stored) bool

func pyBool(v string) bool {
	switch strings.ToLower(v) {
	case "true", "t", "1", "yes", "y", "on":
		return true
	}
	return false
}

// compileFilter builds the filter of one query parameter as Alerta's
// QueryBuilder.filter_query does: = (=ANY when repeated), != (NOT), a '~' prefix
// for a case-insensitive substring (a regular expression when repeated), overlap
// for service and tag (whose array comparisons Alerta gets wrong on Postgres),
// attributes.<k> for a string attribute.
func compileFilter(param string, values []string) (filter, *Error) {
	neg := strings.HasSuffix(param, "!")
	field := strings.TrimSuffix(param, "!")
	if name, ok := strings.CutPrefix(field, "attributes."); ok {
		want := values[0]
		return func(s *Stored) bool {
			ms, _ := objectMembers(s.Attributes)
			has := false
			for _, m := range ms {
				var v string
				if m.key == name && json.Unmarshal(m.raw, &v) == nil && v == want {
					has = true
				}
			}
			return has != neg
		}, nil
	}
	if field == "repeat" {
		want := strconv.FormatBool(pyBool(values[0]))
		values = []string{want}
	}
	var match func(string) bool
	switch {
	case len(values) == 1 && strings.HasPrefix(values[0], "~"):
		sub := strings.ToLower(values[0][1:])
		match = func(v string) bool { return strings.Contains(strings.ToLower(v), sub) }
	case len(values) > 1 && anyTilde(values):
		parts := make([]string, len(values))
		for i, v := range values {
			parts[i] = strings.TrimLeft(v, "~")
		}
		re, err := regexp.Compile("(?i)" + strings.Join(parts, "|"))
		if err != nil {
			return nil, &Error{Code: 400, Message: fmt.Sprintf("Invalid regular expression for %s", field)}
		}
		match = re.MatchString
	default:
		set := make(map[string]bool, len(values))
		for _, v := range values {
			set[v] = true
		}
		match = func(v string) bool { return set[v] }
	}
	return func(s *Stored) bool {
		vals, _, ok := fieldValues(s, field)
		if !ok {
			return false // NULL matches neither = nor !=
		}
		hit := false
		for _, v := range vals {
			if match(v) {
				hit = true
				break
			}
		}
		return hit != neg
	}, nil
}

func anyTilde(values []string) bool {
	for _, v := range values {
		if strings.HasPrefix(v, "~") {
			return true
		}
	}
	return false
}

// sortKey is one sort-by term.
type sortKey struct {
	field     string
	attribute string
	dir       int
}

// compareStored compares a and b by one sort-by term other than attributes.<k>.
func compareStored(a, b *Stored, k sortKey) int {
	// attributes.<k> keys are compared by lessStored, on values taken out once.
	switch k.field {
	case "severity":
		ac, _ := SeverityCode(a.Severity)
		bc, _ := SeverityCode(b.Severity)
		return ac - bc
	case "status":
		return strings.Compare(statusRank(a.Status), statusRank(b.Status))
	case "timeout":
		return a.Timeout - b.Timeout
	case "duplicateCount":
		return a.DuplicateCount - b.DuplicateCount
	case "repeat":
		return boolInt(a.Repeat) - boolInt(b.Repeat)
	case "createTime":
		return a.CreateTime.Compare(b.CreateTime)
	case "receiveTime":
		return a.ReceiveTime.Compare(b.ReceiveTime)
	case "lastReceiveTime":
		return a.LastReceiveTime.Compare(b.LastReceiveTime)
	case "updateTime":
		return a.UpdateTime.Compare(b.UpdateTime)
	case "tags":
		return compareLists(a.Tags, b.Tags)
	}
	av, list, aok := fieldValues(a, k.field)
	bv, _, bok := fieldValues(b, k.field)
	if list {
		return compareLists(av, bv)
	}
	var as, bs string
	if aok {
		as = av[0]
	}
	if bok {
		bs = bv[0]
	}
	return compareNullable(as, bs, aok, bok)
}

func statusRank(s string) string {
	if r, ok := statusOrder[s]; ok {
		return r
	}
	return "Z" + s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// compareNullable orders NULL after every value, as Postgres does ascending.
func compareNullable(a, b string, aok, bok bool) int {
	switch {
	case !aok && !bok:
		return 0
	case !aok:
		return 1
	case !bok:
		return -1
	}
	return strings.Compare(a, b)
}

func compareLists(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := strings.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

// sortHits sorts hits by keys, ties broken newest first. The values of the
// attributes.<k> keys are taken out of each alert's attributes once, before the
// sort: parsing two alerts' attributes in every comparison cost O(n log n) parses
// of up to 64 KiB each, under the book's lock.
func sortHits(hits []*Stored, keys []sortKey) {
	var names []string
	for _, k := range keys {
		if k.field == "attributes" {
			names = append(names, k.attribute)
		}
	}
	if len(names) == 0 {
		sort.Slice(hits, func(i, j int) bool { return lessStored(hits[i], hits[j], keys, nil, nil) })
		return
	}
	type decorated struct {
		st    *Stored
		attrs []attrValue // per attributes key, in keys' order
	}
	ds := make([]decorated, len(hits))
	for i, st := range hits {
		ds[i] = decorated{st: st, attrs: attributeValues(st, names)}
	}
	sort.Slice(ds, func(i, j int) bool { return lessStored(ds[i].st, ds[j].st, keys, ds[i].attrs, ds[j].attrs) })
	for i := range ds {
		hits[i] = ds[i].st
	}
}

// lessStored orders a before b by keys, then newest first. av and bv are a's and
// b's values of the attributes keys in keys' order (attributeValues).
func lessStored(a, b *Stored, keys []sortKey, av, bv []attrValue) bool {
	n := 0
	for _, k := range keys {
		var c int
		if k.field == "attributes" {
			c = compareNullable(av[n].v, bv[n].v, av[n].ok, bv[n].ok)
			n++
		} else {
			c = compareStored(a, b, k)
		}
		if c != 0 {
			return c*k.dir < 0
		}
	}
	return newer(a, b)
}

// attrValue is one attribute's raw JSON value; ok is false when it is absent.
type attrValue struct {
	v  string
	ok bool
}

// attributeValues returns the raw values of the attributes names of s, parsing its
// attributes once.
func attributeValues(s *Stored, names []string) []attrValue {
	out := make([]attrValue, len(names))
	ms, _ := objectMembers(s.Attributes)
	for i, name := range names {
		for _, m := range ms {
			if m.key == name {
				out[i] = attrValue{string(m.raw), true}
				break
			}
		}
	}
	return out
}

// Query answers GET /alerts with q its query parameters (§5.3), as Alerta 9.1 on
// Postgres: field filters (<field>=v, repeated for any of them, <field>!=v, a '~'
// prefix for a case-insensitive match, attributes.<k>=v, service and tag overlap),
// id (a prefix of id or lastReceiveId), from-date/to-date on lastReceiveTime
// (to-date defaults to now), sort-by (repeatable, '-' reverses; without it the
// newest received first, where Alerta leaves the order to Postgres), page and
// page-size (or limit; at most MaxPageSize). A repeated sort-by field is dropped,
// and more than MaxSortKeys distinct ones are 400. The answer is the whole body, keys
// sorted, compact like Output. An unknown field is 400 "Invalid filter parameter:
// <f>", an unsortable one 400, a page out of range 416, and q (Alerta's query
// syntax) is not supported: 400.
func (b *Book) Query(q url.Values, baseURL string, now time.Time) ([]byte, *Error) {
	if q.Get("q") != "" {
		return nil, &Error{Code: 400, Message: "query syntax (q) is not supported"}
	}
	var filters []filter
	// Alerta's from-date and to-date ignore a value that does not parse.
	if t, err := ParseTime(q.Get("from-date")); err == nil {
		filters = append(filters, func(s *Stored) bool { return s.LastReceiveTime.After(t) })
	}
	to := now
	if t, err := ParseTime(q.Get("to-date")); err == nil {
		to = t
	}
	filters = append(filters, func(s *Stored) bool { return !s.LastReceiveTime.After(to) })
	if ids := q["id"]; len(ids) == 1 {
		p := ids[0]
		filters = append(filters, func(s *Stored) bool {
			return strings.HasPrefix(s.ID, p) || strings.HasPrefix(s.LastReceiveID, p)
		})
	} else if len(ids) > 1 {
		lower := make([]string, len(ids))
		for i, v := range ids {
			lower[i] = strings.ToLower(v)
		}
		filters = append(filters, func(s *Stored) bool {
			id, last := strings.ToLower(s.ID), strings.ToLower(s.LastReceiveID)
			for _, p := range lower {
				if strings.HasPrefix(id, p) || strings.HasPrefix(last, p) {
					return true
				}
			}
			return false
		})
	}
	params := make([]string, 0, len(q))
	for p := range q {
		params = append(params, p)
	}
	sort.Strings(params) // the first invalid one in a stable order
	for _, p := range params {
		base, _, _ := strings.Cut(strings.ReplaceAll(p, "!", ""), ".")
		if queryExcluded[base] {
			continue
		}
		if f, ok := queryFields[base]; !ok || !f.filter {
			return nil, &Error{Code: 400, Message: "Invalid filter parameter: " + p}
		}
		if base == "attributes" && !strings.HasPrefix(p, "attributes.") {
			return nil, &Error{Code: 400, Message: "Invalid filter parameter: " + p}
		}
		if len(q[p]) == 0 {
			continue
		}
		f, err := compileFilter(p, q[p])
		if err != nil {
			return nil, err
		}
		filters = append(filters, f)
	}
	var keys []sortKey
	for _, sb := range q["sort-by"] {
		k := sortKey{dir: 1}
		if rest, ok := strings.CutPrefix(sb, "-"); ok {
			k.dir, sb = -1, rest
		}
		if name, ok := strings.CutPrefix(sb, "attributes."); ok {
			name, _, _ = strings.Cut(name, ".")
			k.attribute, sb = name, "attributes"
		}
		f, ok := queryFields[sb]
		if !ok || f.sortDir == 0 {
			return nil, &Error{Code: 400, Message: fmt.Sprintf("Sorting by '%s' field not supported.", sb)}
		}
		k.field, k.dir = sb, k.dir*f.sortDir
		// A term repeating an earlier one's field (in either direction) can never
		// break a tie the earlier one left, so it is dropped.
		if slices.ContainsFunc(keys, func(o sortKey) bool { return o.field == k.field && o.attribute == k.attribute }) {
			continue
		}
		if len(keys) == MaxSortKeys {
			return nil, &Error{Code: 400, Message: fmt.Sprintf("At most %d sort-by fields are supported.", MaxSortKeys)}
		}
		keys = append(keys, k)
	}

	var hits []*Stored
	sevCounts := map[string]int{}
	statusCounts := map[string]int{}
	for _, n := range b.nodes {
		ok := true
		for _, f := range filters {
			if !f(n.st) {
				ok = false
				break
			}
		}
		if ok {
			hits = append(hits, n.st)
			sevCounts[n.st.Severity]++
			statusCounts[n.st.Status]++
		}
	}
	total := len(hits)

	page, size, pages, e := pageParams(q, total)
	if e != nil {
		return nil, e
	}

	sortHits(hits, keys)
	lo := min((page-1)*size, total)
	hi := min(lo+size, total)
	pageHits := hits[lo:hi]

	showRaw := pyBool(q.Get("show-raw-data"))
	o := newSortedObject(12)
	var alerts bytes.Buffer
	alerts.WriteByte('[')
	var last time.Time
	for i, s := range pageHits {
		if i > 0 {
			alerts.WriteByte(',')
		}
		alerts.Write(s.output(baseURL, showRaw))
		if s.LastReceiveTime.After(last) {
			last = s.LastReceiveTime
		}
	}
	alerts.WriteByte(']')
	o.raw("alerts", alerts.Bytes())
	o.raw("autoRefresh", []byte("true"))
	o.raw("page", []byte(strconv.Itoa(page)))
	o.raw("pageSize", []byte(strconv.Itoa(size)))
	o.raw("severityCounts", countsJSON(sevCounts))
	o.str("status", "ok")
	o.raw("statusCounts", countsJSON(statusCounts))
	if len(pageHits) > 0 {
		o.raw("lastTime", jsonTime(last))
		o.raw("more", []byte(strconv.FormatBool(page < pages)))
		o.raw("pages", []byte(strconv.Itoa(pages)))
		o.raw("total", []byte(strconv.Itoa(total)))
	} else {
		o.raw("lastTime", jsonTime(now))
		o.str("message", "not found")
		o.raw("more", []byte("false"))
		o.raw("pages", []byte("0"))
		o.raw("total", []byte("0"))
	}
	return o.bytes(), nil
}

// queryInt parses a parameter as werkzeug's type=int: a bad value is the default.
// pageParams reads a query's page and page-size (or limit) as Alerta does, and
// how many pages total hits make; a page beyond them (or below 1) is 416.
func pageParams(q url.Values, total int) (page, size, pages int, e *Error) {
	page = queryInt(q.Get("page"), 1)
	size = queryInt(q.Get("page-size"), queryInt(q.Get("limit"), 0))
	if size <= 0 {
		size = DefaultPageSize
	}
	size = min(size, MaxPageSize)
	if total > 0 {
		pages = (total-1)/size + 1
	}
	if (total > 0 && page > pages) || page < 1 {
		return 0, 0, 0, &Error{Code: 416, Message: fmt.Sprintf("page out of range: 1-%d", pages)}
	}
	return page, size, pages, nil
}

func queryInt(s string, def int) int {
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return def
	}
	return v
}

func countsJSON(m map[string]int) []byte {
	o := newSortedObject(len(m))
	for k, v := range m {
		o.raw(k, []byte(strconv.Itoa(v)))
	}
	return o.bytes()
}

package quire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// Query limits.
const (
	DefaultQueryLimit   = 50
	MaxQueryLimit       = 1000
	DefaultJoinLimit    = 100
	MaxJoinLimit        = 1000
	MaxFilterDepth      = 16   // nesting of $and, $or and $not
	MaxFilterConditions = 100  // field conditions in one filter
	MaxFilterValues     = 1000 // operands of all $in and $nin in one filter
	MaxSortKeys         = 8
	MaxFields           = 100
	MaxJoins            = 8
)

// Query selects documents of one collection: a filter, a sort, a page of
// at most Limit documents after a cursor, an optional projection of the
// body, an optional count, and joined documents of other collections.
type Query struct {
	Collection string    `json:"-"`
	Where      *Filter   `json:"where,omitempty"`
	Sort       []SortKey `json:"sort,omitempty"`
	Limit      int       `json:"limit,omitempty"` // 0 = DefaultQueryLimit
	After      string    `json:"after,omitempty"` // cursor from a previous page
	Fields     []string  `json:"fields,omitempty"`
	Count      bool      `json:"count,omitempty"`
	Join       []Join    `json:"join,omitempty"`
	Explain    bool      `json:"explain,omitempty"`

	// Since is the request's bookmark: the result must reflect at least
	// this position. NoCache makes the query skip the read cache.
	Since   Bookmark `json:"-"`
	NoCache bool     `json:"-"`
}

// SortKey orders a query by one field. The document id is always the last
// key, so the order is total and pages never overlap.
type SortKey struct {
	Field string `json:"field"`
	Desc  bool   `json:"desc,omitempty"`
}

// Join embeds in each document of a query the documents of Collection
// whose field On's key equals the document's field On's value:
// {"client_id": "id"} means joined.client_id = this.id.
type Join struct {
	Collection string            `json:"collection"`
	On         map[string]string `json:"on"`
	As         string            `json:"as,omitempty"`    // key in the result; default Collection
	Limit      int               `json:"limit,omitempty"` // per document; 0 = DefaultJoinLimit
}

// OnFields returns the two sides of the join condition: the joined
// collection's field and this collection's field.
func (j *Join) OnFields() (joined, this string) {
	for k, v := range j.On {
		return k, v
	}
	return "", ""
}

// QueryResult is one page of a query's matches, or its plan.
type QueryResult struct {
	Docs []QueryDoc
	Next string // cursor of the next page; "" on the last page
	// NextID is, with Next, the id of the first match past the page: the
	// store's read cache keeps the page until that document is written.
	NextID   string
	Count    *int64 // every match, ignoring Limit and After; only when asked
	RowsRead int64  // rows the statements returned or counted (not SQLite's rows examined)
	Scan     bool   // the query may read every row: no index narrows its filter, sort or a join
	Plan     []PlanStep
	SQL      string // with Explain: the statement whose plan this is
	Cache    CacheStatus
}

// QueryDoc is a document of a query result. Joins holds, per join of the
// query, the JSON array of joined documents, passed through undecoded.
type QueryDoc struct {
	Document
	Joins []json.RawMessage
}

// PlanStep is one row of SQLite's EXPLAIN QUERY PLAN.
type PlanStep struct {
	ID     int64  `json:"id"`
	Parent int64  `json:"parent"`
	Detail string `json:"detail"`
}

// FieldPath returns the JSON path a query field names when it is not an
// index or built-in field: the field itself if it starts with "$", else
// "$." + field. ok is false unless the path passes ValidPath.
func FieldPath(field string) (path string, ok bool) {
	path = field
	if !strings.HasPrefix(field, "$") {
		path = "$." + field
	}
	return path, ValidPath(path)
}

// checkField refuses a query field that is no valid name or JSON path.
func checkField(what, field string) error {
	if _, ok := FieldPath(field); !ok {
		return Errorf(EInvalid, "%s %q is neither an index field nor a valid JSON path (keys of letters, digits and _, as in name.first or tags[0])", what, truncate(field, 80))
	}
	return nil
}

// joinReserved are the keys of a query document a join may not take.
var joinReserved = map[string]bool{"id": true, "version": true, "created_at": true, "updated_at": true, "body": true}

// Normalize validates q and fills defaults: the limits, and each join's
// name and limit.
func (q *Query) Normalize() error {
	if err := CheckName("collection", q.Collection); err != nil {
		return err
	}
	if q.Where != nil {
		if err := q.Where.Validate(); err != nil {
			return err
		}
	}
	switch {
	case q.Limit < 0 || q.Limit > MaxQueryLimit:
		return Errorf(EInvalid, "limit must be 1 to %d", MaxQueryLimit)
	case q.Limit == 0:
		q.Limit = DefaultQueryLimit
	}
	if len(q.Sort) > MaxSortKeys {
		return Errorf(EInvalid, "at most %d sort keys", MaxSortKeys)
	}
	for _, k := range q.Sort {
		if err := checkField("sort field", k.Field); err != nil {
			return err
		}
	}
	if len(q.Fields) > MaxFields {
		return Errorf(EInvalid, "at most %d fields", MaxFields)
	}
	for _, f := range q.Fields {
		if p, ok := FieldPath(f); !ok || strings.Contains(p, "[") {
			return Errorf(EInvalid, "field %q is not an object path: fields project keys such as name or address.postcode (array elements cannot be projected)", truncate(f, 80))
		}
	}
	if len(q.Join) > MaxJoins {
		return Errorf(EInvalid, "at most %d joins", MaxJoins)
	}
	seen := map[string]bool{}
	for i := range q.Join {
		if err := q.Join[i].normalize(); err != nil {
			return err
		}
		if seen[q.Join[i].As] {
			return Errorf(EInvalid, "join %q: two joins named %q; give one another \"as\"", q.Join[i].Collection, q.Join[i].As)
		}
		seen[q.Join[i].As] = true
	}
	return nil
}

func (j *Join) normalize() error {
	if err := CheckName("collection", j.Collection); err != nil {
		return err
	}
	if len(j.On) != 1 {
		return Errorf(EInvalid, "join %q: on must be one pair {\"<joined field>\": \"<this field>\"}", j.Collection)
	}
	joined, this := j.OnFields()
	if err := checkField("join field", joined); err != nil {
		return err
	}
	if err := checkField("join field", this); err != nil {
		return err
	}
	if j.As == "" {
		j.As = j.Collection
	}
	if !ValidName(j.As) || joinReserved[j.As] {
		return Errorf(EInvalid, "join %q: as %q must be a name (a-z, 0-9, _) other than id, version, created_at, updated_at and body", j.Collection, truncate(j.As, 80))
	}
	switch {
	case j.Limit < 0 || j.Limit > MaxJoinLimit:
		return Errorf(EInvalid, "join %q: limit must be 1 to %d", j.Collection, MaxJoinLimit)
	case j.Limit == 0:
		j.Limit = DefaultJoinLimit
	}
	return nil
}

// Op is a filter operator.
type Op string

// The filter operators. Comparisons take a field; $and and $or take
// filters; $not takes one filter.
const (
	OpEq     Op = "$eq"
	OpNe     Op = "$ne"
	OpGt     Op = "$gt"
	OpGte    Op = "$gte"
	OpLt     Op = "$lt"
	OpLte    Op = "$lte"
	OpIn     Op = "$in"
	OpNin    Op = "$nin"
	OpPrefix Op = "$prefix"
	OpExists Op = "$exists"
	OpAnd    Op = "$and"
	OpOr     Op = "$or"
	OpNot    Op = "$not"
)

// Filter is a parsed condition on documents: a comparison of one field
// with a value, or a combination of filters. An $and with no filters
// matches every document.
type Filter struct {
	Op     Op
	Field  string    // comparisons: an index field, a built-in field or a JSON path
	Value  any       // comparisons but $in/$nin: nil, bool, string or json.Number
	Values []any     // $in and $nin: scalars as for Value
	Sub    []*Filter // $and, $or; exactly one for $not
}

// UnmarshalJSON parses the filter language (see ParseFilter).
func (f *Filter) UnmarshalJSON(data []byte) error {
	p, err := ParseFilter(data)
	if err != nil {
		return err
	}
	if p == nil {
		p = &Filter{Op: OpAnd}
	}
	*f = *p
	return nil
}

// MarshalJSON renders f in the filter language, in a canonical form that
// ParseFilter reads back as the same filter.
func (f *Filter) MarshalJSON() ([]byte, error) {
	var v any
	switch f.Op {
	case OpAnd, OpOr:
		if f.Op == OpAnd && len(f.Sub) == 0 {
			return []byte("{}"), nil
		}
		v = map[string]any{string(f.Op): f.Sub}
	case OpNot:
		v = map[string]any{string(OpNot): f.Sub[0]}
	case OpIn, OpNin:
		vals := f.Values
		if vals == nil {
			vals = []any{}
		}
		v = map[string]any{f.Field: map[string]any{string(f.Op): vals}}
	default:
		v = map[string]any{f.Field: map[string]any{string(f.Op): f.Value}}
	}
	return json.Marshal(v)
}

// ParseFilter parses a JSON filter: an object whose keys are fields (a bare
// value means $eq, an object holds operators, all ANDed) or $and/$or
// (arrays of filters) or $not (a filter). Keys of one object are ANDed.
// JSON null gives a nil filter, which matches every document.
func ParseFilter(data []byte) (*Filter, error) {
	p := &filterParser{dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	t, err := p.token()
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, nil
	}
	if t != json.Delim('{') {
		return nil, Errorf(EInvalid, "where must be a JSON object")
	}
	f, err := p.object(1)
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, Errorf(EInvalid, "where: data after the filter")
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// filterParser reads the JSON shape of a filter; Validate then checks
// operands and limits.
type filterParser struct {
	dec *json.Decoder
}

func (p *filterParser) token() (json.Token, error) {
	t, err := p.dec.Token()
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, Errorf(EInvalid, "where: malformed JSON at byte %d", se.Offset)
		}
		return nil, Errorf(EInvalid, "where: malformed JSON")
	}
	return t, nil
}

// expect reads a token that must be the delimiter d.
func (p *filterParser) expect(d json.Delim, context string) error {
	t, err := p.token()
	if err != nil {
		return err
	}
	if t != d {
		want := map[json.Delim]string{'{': "an object", '[': "an array"}[d]
		return Errorf(EInvalid, "where: %s needs %s", truncate(context, 80), want)
	}
	return nil
}

// keys reads the keys of an object whose '{' was read, calling each with
// its key positioned at the value, and consumes the '}'.
func (p *filterParser) keys(each func(key string) error) error {
	seen := map[string]bool{}
	for p.dec.More() {
		t, err := p.token()
		if err != nil {
			return err
		}
		key := t.(string) // object keys are always strings
		if seen[key] {
			return Errorf(EInvalid, "where: key %q given twice in one object", truncate(key, 80))
		}
		seen[key] = true
		if err := each(key); err != nil {
			return err
		}
	}
	_, err := p.token()
	return err
}

// object parses the filter object whose '{' was read.
func (p *filterParser) object(depth int) (*Filter, error) {
	if depth > MaxFilterDepth {
		return nil, Errorf(EInvalid, "where: filters nest at most %d levels deep", MaxFilterDepth)
	}
	and := &Filter{Op: OpAnd}
	err := p.keys(func(key string) error {
		var f *Filter
		var err error
		switch Op(key) {
		case OpAnd, OpOr:
			f, err = p.list(Op(key), depth)
		case OpNot:
			if err = p.expect('{', "$not"); err == nil {
				var sub *Filter
				sub, err = p.object(depth + 1)
				f = &Filter{Op: OpNot, Sub: []*Filter{sub}}
			}
		default:
			if strings.HasPrefix(key, "$") && !strings.HasPrefix(key, "$.") && !strings.HasPrefix(key, "$[") {
				return Errorf(EInvalid, "where: unknown operator %q here (only $and, $or and $not combine filters; comparison operators go inside a field: {\"age\": {\"$gte\": 18}})", truncate(key, 80))
			}
			f, err = p.field(key, depth)
		}
		and.Sub = append(and.Sub, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(and.Sub) == 1 {
		return and.Sub[0], nil
	}
	return and, nil
}

// list parses the array of filters of $and or $or.
func (p *filterParser) list(op Op, depth int) (*Filter, error) {
	if err := p.expect('[', string(op)); err != nil {
		return nil, err
	}
	f := &Filter{Op: op}
	for p.dec.More() {
		if err := p.expect('{', string(op)+" element"); err != nil {
			return nil, err
		}
		sub, err := p.object(depth + 1)
		if err != nil {
			return nil, err
		}
		f.Sub = append(f.Sub, sub)
	}
	if _, err := p.token(); err != nil {
		return nil, err
	}
	if len(f.Sub) == 0 {
		return nil, Errorf(EInvalid, "where: %s needs at least one filter", op)
	}
	return f, nil
}

// field parses the condition on field: a bare value or an operator object.
func (p *filterParser) field(field string, depth int) (*Filter, error) {
	t, err := p.token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('['):
		return nil, Errorf(EInvalid, "where: field %q: an array is not a value; use {\"$in\": [...]}", truncate(field, 80))
	case json.Delim('{'):
		return p.operators(field, depth)
	}
	return &Filter{Op: OpEq, Field: field, Value: t}, nil
}

// operators parses a field's operator object whose '{' was read.
func (p *filterParser) operators(field string, depth int) (*Filter, error) {
	if depth > MaxFilterDepth {
		return nil, Errorf(EInvalid, "where: filters nest at most %d levels deep", MaxFilterDepth)
	}
	and := &Filter{Op: OpAnd}
	err := p.keys(func(key string) error {
		f, err := p.operator(field, Op(key), depth)
		and.Sub = append(and.Sub, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	switch len(and.Sub) {
	case 0:
		return nil, Errorf(EInvalid, "where: field %q: empty operator object", truncate(field, 80))
	case 1:
		return and.Sub[0], nil
	}
	return and, nil
}

// operator parses the operand of op on field; validate checks its type.
func (p *filterParser) operator(field string, op Op, depth int) (*Filter, error) {
	switch op {
	case OpNot:
		if err := p.expect('{', "$not of "+field); err != nil {
			return nil, err
		}
		sub, err := p.operators(field, depth+1)
		return &Filter{Op: OpNot, Sub: []*Filter{sub}}, err
	case OpIn, OpNin:
		if err := p.expect('[', string(op)+" of "+field); err != nil {
			return nil, err
		}
		f := &Filter{Op: op, Field: field, Values: []any{}}
		for p.dec.More() {
			v, err := p.scalar(field, op)
			if err != nil {
				return nil, err
			}
			f.Values = append(f.Values, v)
		}
		_, err := p.token()
		return f, err
	case OpEq, OpNe, OpGt, OpGte, OpLt, OpLte, OpPrefix, OpExists:
		v, err := p.scalar(field, op)
		return &Filter{Op: op, Field: field, Value: v}, err
	}
	name, key := truncate(field, 80), truncate(string(op), 80)
	if !strings.HasPrefix(string(op), "$") {
		return nil, Errorf(EInvalid, "where: field %q: %q is not an operator; to test a nested key, use its path (%s.%s)", name, key, name, key)
	}
	return nil, Errorf(EInvalid, "where: field %q: unknown operator %q (use $eq $ne $gt $gte $lt $lte $in $nin $prefix $exists $not)", name, key)
}

// scalar reads an operand that is no object or array.
func (p *filterParser) scalar(field string, op Op) (any, error) {
	t, err := p.token()
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); ok {
		return nil, Errorf(EInvalid, "where: field %q: %s takes a string, number, boolean or null, not an %s", truncate(field, 80), op,
			map[json.Delim]string{'{': "object", '[': "array"}[d])
	}
	return t, nil
}

// Validate checks f as ParseFilter checks a JSON filter, for filters built
// in Go: known operators, operands of the right types (numbers as
// json.Number within float64's range), valid fields, and the limits.
func (f *Filter) Validate() error {
	var n filterCounts
	// The parser's depth counts filter objects; a tree has up to two nodes
	// per object (the implicit $and of its keys and the operator).
	return f.validate(1, 2*MaxFilterDepth+1, &n)
}

type filterCounts struct{ conditions, values int }

func (f *Filter) validate(depth, maxDepth int, n *filterCounts) error {
	if f == nil {
		return Errorf(EInvalid, "where: a filter is missing")
	}
	if depth > maxDepth {
		return Errorf(EInvalid, "where: filters nest at most %d levels deep", MaxFilterDepth)
	}
	switch f.Op {
	case OpAnd, OpOr, OpNot:
		switch {
		case f.Op == OpOr && len(f.Sub) == 0:
			return Errorf(EInvalid, "where: $or needs at least one filter")
		case f.Op == OpNot && len(f.Sub) != 1:
			return Errorf(EInvalid, "where: $not takes one filter")
		}
		for _, sub := range f.Sub {
			if err := sub.validate(depth+1, maxDepth, n); err != nil {
				return err
			}
		}
		return nil
	}
	if err := checkField("field", f.Field); err != nil {
		return err
	}
	if n.conditions++; n.conditions > MaxFilterConditions {
		return Errorf(EInvalid, "where: at most %d conditions", MaxFilterConditions)
	}
	name := truncate(f.Field, 80)
	switch f.Op {
	case OpIn, OpNin:
		if n.values += len(f.Values); n.values > MaxFilterValues {
			return Errorf(EInvalid, "where: at most %d values in all $in and $nin lists", MaxFilterValues)
		}
		for _, v := range f.Values {
			if err := checkScalar(name, f.Op, v); err != nil {
				return err
			}
		}
		return nil
	case OpEq, OpNe:
		return checkScalar(name, f.Op, f.Value)
	case OpGt, OpGte, OpLt, OpLte:
		if _, ok := f.Value.(string); !ok {
			if _, ok := f.Value.(json.Number); !ok {
				return Errorf(EInvalid, "where: field %q: %s needs a string or a number", name, f.Op)
			}
		}
		return checkScalar(name, f.Op, f.Value)
	case OpPrefix:
		if _, ok := f.Value.(string); !ok {
			return Errorf(EInvalid, "where: field %q: $prefix needs a string", name)
		}
		return nil
	case OpExists:
		if _, ok := f.Value.(bool); !ok {
			return Errorf(EInvalid, "where: field %q: $exists needs true or false", name)
		}
		return nil
	}
	return Errorf(EInvalid, "where: field %q: unknown operator %q", name, truncate(string(f.Op), 80))
}

// checkScalar refuses an operand that is not a string, a number within
// float64's range, a boolean or null.
func checkScalar(field string, op Op, v any) error {
	switch v := v.(type) {
	case nil, bool, string:
		return nil
	case json.Number:
		if _, err := strconv.ParseFloat(string(v), 64); err == nil {
			return nil
		}
		return Errorf(EInvalid, "where: field %q: number %s is out of range", field, truncate(string(v), 40))
	}
	return Errorf(EInvalid, "where: field %q: %s takes a string, a json.Number, a boolean or nil, not %T", field, op, v)
}

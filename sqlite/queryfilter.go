package sqlite

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/quiredb/quire"
)

// This file compiles a quire.Query to parameterised SQL. Identifiers in
// the SQL are only collection and index names, which passed
// quire.ValidName; every path, key and value is a bound parameter.

// mainAlias is the alias of the queried collection's table.
const mainAlias = "d"

// fieldRef is how a query field reads in SQL: a column (index field or
// built-in) or a JSON path into the body.
type fieldRef struct {
	name    string
	alias   string
	col     string          // the column, e.g. d."age"; "" for a JSON path
	typ     quire.IndexType // type of col
	path    string          // JSON path; for an index field, its index's path
	indexed bool            // col has an index
	notNull bool            // col is never NULL
}

// resolve finds field in collection c, whose table has alias a. A path
// equal to an index's path is that index field, so it uses the index.
func resolve(c *quire.Collection, a, field string) (fieldRef, error) {
	r := fieldRef{name: field, alias: a, typ: quire.IndexInteger, notNull: true}
	switch field {
	case "id":
		r.col, r.typ, r.indexed = a+".id", quire.IndexText, true
		return r, nil
	case "created_at", "updated_at":
		r.col = a + "." + field
		return r, nil
	case "version":
		r.col = a + "._version"
		return r, nil
	}
	ix, ok := c.Index(field)
	if !ok {
		p, valid := quire.FieldPath(field)
		if !valid {
			return r, quire.Errorf(quire.EInvalid, "field %q is neither an index field nor a valid JSON path", quire.ClipName(field))
		}
		for _, cand := range c.Indexes {
			if cand.Path == p {
				ix, ok = cand, true
				break
			}
		}
		if !ok {
			return fieldRef{name: field, alias: a, path: p}, nil
		}
	}
	return fieldRef{name: field, alias: a, col: a + "." + quoteIdent(ix.Field), typ: ix.Type, path: ix.Path, indexed: true}, nil
}

// sqlBuf accumulates SQL text and its arguments in textual order.
type sqlBuf struct {
	strings.Builder
	args []any
}

func (b *sqlBuf) arg(v any) {
	b.WriteByte('?')
	b.args = append(b.args, v)
}

// expr writes the value of r.
func (b *sqlBuf) expr(r fieldRef) {
	if r.col != "" {
		b.WriteString(r.col)
		return
	}
	b.WriteString("json_extract(" + r.alias + ".body, ")
	b.arg(r.path)
	b.WriteByte(')')
}

// jsonType writes json_type of r's path.
func (b *sqlBuf) jsonType(r fieldRef) {
	b.WriteString("json_type(" + r.alias + ".body, ")
	b.arg(r.path)
	b.WriteByte(')')
}

// filterCompiler writes a filter on one collection.
type filterCompiler struct {
	c *quire.Collection
	b *sqlBuf
}

// filter writes f as a boolean SQL expression.
func (fc filterCompiler) filter(f *quire.Filter) error {
	switch f.Op {
	case quire.OpAnd, quire.OpOr:
		if len(f.Sub) == 0 {
			fc.b.WriteString(map[quire.Op]string{quire.OpAnd: "1", quire.OpOr: "0"}[f.Op])
			return nil
		}
		fc.b.WriteByte('(')
		for i, sub := range f.Sub {
			if i > 0 {
				fc.b.WriteString(map[quire.Op]string{quire.OpAnd: " AND ", quire.OpOr: " OR "}[f.Op])
			}
			if err := fc.filter(sub); err != nil {
				return err
			}
		}
		fc.b.WriteByte(')')
		return nil
	case quire.OpNot:
		return fc.negate(func() error { return fc.filter(f.Sub[0]) })
	}
	r, err := resolve(fc.c, mainAlias, f.Field)
	if err != nil {
		return err
	}
	if f.Op == quire.OpExists {
		switch {
		case r.path == "" && f.Value == true:
			fc.b.WriteString("1")
		case r.path == "":
			fc.b.WriteString("0")
		default:
			fc.b.jsonType(r)
			fc.b.WriteString(map[bool]string{true: " IS NOT NULL", false: " IS NULL"}[f.Value == true])
		}
		return nil
	}
	if r.col != "" {
		return fc.column(r, f)
	}
	return fc.path(r, f)
}

// negate writes the complement of the condition cond writes. A condition
// that is NULL (a missing field) counts as false, so its complement is true:
// $ne, $nin and $not match documents without the field.
func (fc filterCompiler) negate(cond func() error) error {
	fc.b.WriteString("((")
	if err := cond(); err != nil {
		return err
	}
	fc.b.WriteString(") IS NOT TRUE)")
	return nil
}

var compareOps = map[quire.Op]string{quire.OpEq: " = ", quire.OpGt: " > ", quire.OpGte: " >= ", quire.OpLt: " < ", quire.OpLte: " <= "}

// column writes a comparison on a typed column, binding values of its type.
func (fc filterCompiler) column(r fieldRef, f *quire.Filter) error {
	b := fc.b
	switch f.Op {
	case quire.OpEq, quire.OpNe, quire.OpGt, quire.OpGte, quire.OpLt, quire.OpLte:
		if f.Value == nil {
			b.WriteString(r.col + map[quire.Op]string{quire.OpEq: " IS NULL", quire.OpNe: " IS NOT NULL"}[f.Op])
			return nil
		}
		v, err := columnValue(r, f.Op, f.Value)
		if err != nil {
			return err
		}
		op := compareOps[f.Op]
		if f.Op == quire.OpNe {
			op = " IS NOT "
		}
		b.WriteString(r.col + op)
		b.arg(v)
	case quire.OpPrefix:
		if r.typ != quire.IndexText {
			return quire.Errorf(quire.EInvalid, "field %q: $prefix needs a text field; %q is %s", quire.ClipName(r.name), quire.ClipName(r.name), r.typ)
		}
		p := f.Value.(string)
		b.WriteString("(" + r.col + " >= ")
		b.arg(p)
		if upper, ok := prefixUpperBound(p); ok {
			b.WriteString(" AND " + r.col + " < ")
			b.arg(upper)
		}
		b.WriteByte(')')
	case quire.OpIn:
		var vals []any
		null := false
		for _, v := range f.Values {
			if v == nil {
				null = true
				continue
			}
			cv, err := columnValue(r, f.Op, v)
			if err != nil {
				return err
			}
			vals = append(vals, cv)
		}
		var parts []func()
		if len(vals) > 0 {
			parts = append(parts, func() {
				b.WriteString(r.col + " IN (")
				for i, v := range vals {
					if i > 0 {
						b.WriteString(", ")
					}
					b.arg(v)
				}
				b.WriteByte(')')
			})
		}
		if null {
			parts = append(parts, func() { b.WriteString(r.col + " IS NULL") })
		}
		disjunction(b, parts)
	case quire.OpNin:
		return fc.negate(func() error { return fc.column(r, &quire.Filter{Op: quire.OpIn, Field: f.Field, Values: f.Values}) })
	default:
		return quire.Errorf(quire.EInvalid, "unknown operator %q", f.Op)
	}
	return nil
}

// disjunction writes the parts ORed: "0" for none, one part bare.
func disjunction(b *sqlBuf, parts []func()) {
	switch len(parts) {
	case 0:
		b.WriteString("0")
	case 1:
		parts[0]()
	default:
		b.WriteByte('(')
		for i, p := range parts {
			if i > 0 {
				b.WriteString(" OR ")
			}
			p()
		}
		b.WriteByte(')')
	}
}

// columnValue converts an operand to the Go type of r's column: a string
// for text, int64 (or float64 when not integral) for integer, float64 for
// real. Booleans are 1 and 0 in integer columns, as SQLite stores them.
func columnValue(r fieldRef, op quire.Op, v any) (any, error) {
	name := quire.ClipName(r.name)
	switch r.typ {
	case quire.IndexText:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, quire.Errorf(quire.EInvalid, "field %q is text: %s needs a string", name, op)
	case quire.IndexInteger:
		switch v := v.(type) {
		case bool:
			return map[bool]int64{false: 0, true: 1}[v], nil
		case json.Number:
			return number(v), nil
		}
		return nil, quire.Errorf(quire.EInvalid, "field %q is an integer: %s needs a number", name, op)
	}
	if n, ok := v.(json.Number); ok {
		f, _ := strconv.ParseFloat(string(n), 64)
		return f, nil
	}
	return nil, quire.Errorf(quire.EInvalid, "field %q is a real number: %s needs a number", name, op)
}

// number converts a JSON number to int64 when integral and in range, else
// to float64 (the parser has checked it fits).
func number(n json.Number) any {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i
	}
	f, _ := strconv.ParseFloat(string(n), 64)
	return f
}

// jsonTypes are the json_type results an operand of each Go type matches:
// a comparison on a path only matches values of the operand's JSON type.
func jsonTypes(v any) string {
	switch v := v.(type) {
	case string:
		return " = 'text'"
	case bool:
		return map[bool]string{true: " = 'true'", false: " = 'false'"}[v]
	}
	return " IN ('integer', 'real')"
}

// path writes a comparison on a JSON path of the body. json_extract maps
// true to 1 and objects to their JSON text, so each comparison also tests
// json_type: "a" never matches ["a"], 1 never matches true.
func (fc filterCompiler) path(r fieldRef, f *quire.Filter) error {
	b := fc.b
	switch f.Op {
	case quire.OpEq, quire.OpGt, quire.OpGte, quire.OpLt, quire.OpLte:
		switch v := f.Value.(type) {
		case nil:
			b.expr(r)
			b.WriteString(" IS NULL")
		case bool:
			b.jsonType(r)
			b.WriteString(jsonTypes(v))
		default:
			b.WriteByte('(')
			b.expr(r)
			b.WriteString(compareOps[f.Op])
			b.arg(pathValue(v))
			b.WriteString(" AND ")
			b.jsonType(r)
			b.WriteString(jsonTypes(v) + ")")
		}
	case quire.OpNe:
		return fc.negate(func() error { return fc.path(r, &quire.Filter{Op: quire.OpEq, Field: f.Field, Value: f.Value}) })
	case quire.OpPrefix:
		p := f.Value.(string)
		b.WriteByte('(')
		b.expr(r)
		b.WriteString(" >= ")
		b.arg(p)
		if upper, ok := prefixUpperBound(p); ok {
			b.WriteString(" AND ")
			b.expr(r)
			b.WriteString(" < ")
			b.arg(upper)
		}
		b.WriteString(" AND ")
		b.jsonType(r)
		b.WriteString(" = 'text')")
	case quire.OpIn:
		fc.pathIn(r, f.Values)
	case quire.OpNin:
		return fc.negate(func() error { fc.pathIn(r, f.Values); return nil })
	default:
		return quire.Errorf(quire.EInvalid, "unknown operator %q", f.Op)
	}
	return nil
}

// pathIn writes $in on a path: one IN list per JSON type among the values.
func (fc filterCompiler) pathIn(r fieldRef, values []any) {
	b := fc.b
	var strs, nums []any
	var bools []string
	null := false
	for _, v := range values {
		switch v := v.(type) {
		case nil:
			null = true
		case string:
			strs = append(strs, v)
		case bool:
			bools = append(bools, map[bool]string{true: "'true'", false: "'false'"}[v])
		default:
			nums = append(nums, pathValue(v))
		}
	}
	var parts []func()
	for _, group := range [][]any{strs, nums} {
		if len(group) == 0 {
			continue
		}
		parts = append(parts, func() {
			b.WriteByte('(')
			b.expr(r)
			b.WriteString(" IN (")
			for i, v := range group {
				if i > 0 {
					b.WriteString(", ")
				}
				b.arg(v)
			}
			b.WriteString(") AND ")
			b.jsonType(r)
			b.WriteString(jsonTypes(group[0]) + ")")
		})
	}
	if len(bools) > 0 {
		parts = append(parts, func() {
			b.jsonType(r)
			b.WriteString(" IN (" + strings.Join(bools, ", ") + ")")
		})
	}
	if null {
		parts = append(parts, func() { b.expr(r); b.WriteString(" IS NULL") })
	}
	disjunction(b, parts)
}

// pathValue converts a string or JSON number operand for binding.
func pathValue(v any) any {
	if n, ok := v.(json.Number); ok {
		return number(n)
	}
	return v
}

// prefixUpperBound returns the least string greater than every string that
// starts with p, in SQLite's BINARY (byte) order: trailing 0xFF bytes are
// dropped and the last remaining byte incremented. ok is false when no such
// bound exists (p empty or all 0xFF). The bound may be invalid UTF-8; it is
// only compared byte-wise, which is what makes it exact even for stored
// strings holding surrogates or other odd sequences.
func prefixUpperBound(p string) (string, bool) {
	b := []byte(p)
	for len(b) > 0 && b[len(b)-1] == 0xFF {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return "", false
	}
	b[len(b)-1]++
	return string(b), true
}

// sargable reports whether an index can narrow down the rows f matches:
// a comparison on an indexed column, an $and with one such part, or an
// $or of such parts.
func sargable(c *quire.Collection, f *quire.Filter) bool {
	switch f.Op {
	case quire.OpAnd:
		for _, sub := range f.Sub {
			if sargable(c, sub) {
				return true
			}
		}
		return false
	case quire.OpOr:
		for _, sub := range f.Sub {
			if !sargable(c, sub) {
				return false
			}
		}
		return len(f.Sub) > 0
	case quire.OpEq, quire.OpGt, quire.OpGte, quire.OpLt, quire.OpLte, quire.OpIn, quire.OpPrefix:
		r, err := resolve(c, mainAlias, f.Field)
		return err == nil && r.indexed
	}
	return false
}

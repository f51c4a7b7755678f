package sqlite

import (
	"strconv"
	"strings"

	"github.com/quiredb/quire"
)

// statement is a compiled query: the page statement, the count statement,
// and what the caller needs to read its rows.
type statement struct {
	sql, countSQL   string
	args, countArgs []any
	keys            []sortRef // the sort; the last key is always id
	hash            uint32    // identifies the sort in cursors
	scan            bool
	colls           []*quire.Collection // the definitions compiled against
}

// sortRef is a resolved sort key.
type sortRef struct {
	fieldRef
	desc bool
}

// compile compiles q, normalized, on collection c; lookup finds joined
// collections.
func compile(c *quire.Collection, q *quire.Query, lookup func(string) (*quire.Collection, error)) (*statement, error) {
	st := &statement{colls: []*quire.Collection{c}}
	for _, k := range q.Sort {
		r, err := resolve(c, mainAlias, k.Field)
		if err != nil {
			return nil, err
		}
		st.keys = append(st.keys, sortRef{r, k.Desc})
		if k.Field == "id" {
			break // the order is total; later keys never decide
		}
	}
	if n := len(st.keys); n == 0 || st.keys[n-1].name != "id" {
		r, _ := resolve(c, mainAlias, "id")
		st.keys = append(st.keys, sortRef{fieldRef: r})
	}
	st.hash = sortHash(st.keys)
	after, err := decodeQueryCursor(q.After, st)
	if err != nil {
		return nil, err
	}

	b := &sqlBuf{}
	b.WriteString("SELECT d.id, d._version, d.created_at, d.updated_at, ")
	b.WriteString("CAST(") // a BLOB: see page
	if len(q.Fields) > 0 {
		projection(b, q.Fields)
	} else {
		b.WriteString("d.body")
	}
	b.WriteString(" AS BLOB)")
	for i, j := range q.Join {
		b.WriteString(", ")
		other, err := lookup(j.Collection)
		if err != nil {
			return nil, err
		}
		st.colls = append(st.colls, other)
		unindexed, err := joinExpr(b, c, other, i, j)
		if err != nil {
			return nil, err
		}
		st.scan = st.scan || unindexed
	}
	for _, k := range st.keys[:len(st.keys)-1] {
		b.WriteString(", ")
		b.expr(k.fieldRef)
	}
	from := " FROM " + quoteIdent(c.Name) + " AS " + mainAlias
	b.WriteString(from)
	hasWhere := q.Where != nil && !(q.Where.Op == quire.OpAnd && len(q.Where.Sub) == 0)
	if hasWhere || after != nil {
		b.WriteString(" WHERE ")
	}
	if hasWhere {
		if after != nil {
			b.WriteByte('(') // so the keyset cannot bind into the filter
		}
		if err := (filterCompiler{c, b}).filter(q.Where); err != nil {
			return nil, err
		}
		if after != nil {
			b.WriteString(") AND ")
		}
	}
	if after != nil {
		keyset(b, st.keys, after)
	}
	b.WriteString(" ORDER BY ")
	for i, k := range st.keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.expr(k.fieldRef)
		if k.desc {
			b.WriteString(" DESC")
		}
	}
	b.WriteString(" LIMIT ")
	b.arg(q.Limit + 1) // one more row tells whether there is a next page
	st.sql, st.args = b.String(), b.args

	if q.Count {
		cb := &sqlBuf{}
		cb.WriteString("SELECT count(*)" + from)
		if hasWhere {
			cb.WriteString(" WHERE ")
			if err := (filterCompiler{c, cb}).filter(q.Where); err != nil {
				return nil, err
			}
		}
		st.countSQL, st.countArgs = cb.String(), cb.args
	}
	if hasWhere {
		st.scan = st.scan || !sargable(c, q.Where)
	} else {
		st.scan = st.scan || !st.keys[0].indexed
	}
	return st, nil
}

// keyset writes the condition "after the row whose sort values are vals"
// for the order keys: (k1 > v1) OR (k1 IS v1 AND k2 > v2) OR ..., where
// "after" follows SQLite's order: NULL first ascending, last descending.
func keyset(b *sqlBuf, keys []sortRef, vals []any) {
	b.WriteByte('(')
	if k, v := keys[0], vals[0]; len(keys) > 1 && !(v == nil && !k.desc) {
		// A bound on the first key alone lets an index on it be used.
		switch {
		case v == nil:
			b.expr(k.fieldRef)
			b.WriteString(" IS NULL")
		case k.desc && !k.notNull:
			b.WriteByte('(')
			b.expr(k.fieldRef)
			b.WriteString(" <= ")
			b.arg(v)
			b.WriteString(" OR ")
			b.expr(k.fieldRef)
			b.WriteString(" IS NULL)")
		default:
			b.expr(k.fieldRef)
			b.WriteString(map[bool]string{false: " >= ", true: " <= "}[k.desc])
			b.arg(v)
		}
		b.WriteString(" AND ")
	}
	var parts []func()
	for i := range keys {
		if keys[i].desc && vals[i] == nil {
			continue // nothing sorts after NULL descending
		}
		parts = append(parts, func() {
			b.WriteByte('(')
			for j := range i {
				b.expr(keys[j].fieldRef)
				if vals[j] == nil {
					b.WriteString(" IS NULL AND ")
				} else {
					b.WriteString(" IS ")
					b.arg(vals[j])
					b.WriteString(" AND ")
				}
			}
			k, v := keys[i], vals[i]
			switch {
			case v == nil:
				b.expr(k.fieldRef)
				b.WriteString(" IS NOT NULL")
			case !k.desc:
				b.expr(k.fieldRef)
				b.WriteString(" > ")
				b.arg(v)
			case k.notNull:
				b.expr(k.fieldRef)
				b.WriteString(" < ")
				b.arg(v)
			default:
				b.WriteByte('(')
				b.expr(k.fieldRef)
				b.WriteString(" < ")
				b.arg(v)
				b.WriteString(" OR ")
				b.expr(k.fieldRef)
				b.WriteString(" IS NULL)")
			}
			b.WriteByte(')')
		})
	}
	disjunction(b, parts)
	b.WriteByte(')')
}

// projNode is a key of a projected body: a whole value (path set) or an
// object built from its kids.
type projNode struct {
	key  string
	path string
	kids []*projNode
}

// projection writes the body reduced to fields, rebuilding nested objects
// with json_object: ["name", "address.postcode"] gives
// {"name": ..., "address": {"postcode": ...}}. A missing field is null.
func projection(b *sqlBuf, fields []string) {
	root := &projNode{}
	for _, f := range fields {
		p, _ := quire.FieldPath(f)
		steps := strings.Split(p[len("$."):], ".")
		n := root
		for i, key := range steps {
			if n.path != "" {
				break // an enclosing object is projected whole
			}
			var child *projNode
			for _, k := range n.kids {
				if k.key == key {
					child = k
				}
			}
			if child == nil {
				child = &projNode{key: key}
				n.kids = append(n.kids, child)
			}
			if i == len(steps)-1 {
				child.path, child.kids = "$."+strings.Join(steps, "."), nil
			}
			n = child
		}
	}
	var write func(n *projNode)
	write = func(n *projNode) {
		if n.path != "" {
			b.WriteString(mainAlias + ".body -> ")
			b.arg(n.path)
			return
		}
		b.WriteString("json_object(")
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(", ")
			}
			b.arg(k.key)
			b.WriteString(", ")
			write(k)
		}
		b.WriteByte(')')
	}
	write(root)
}

// joinExpr writes join j (the i-th) as a correlated subquery yielding the
// JSON array of matching documents, and reports whether the joined side
// is unindexed (a scan of the joined collection per document).
func joinExpr(b *sqlBuf, c, other *quire.Collection, i int, j quire.Join) (bool, error) {
	a := "j" + strconv.Itoa(i)
	joined, this := j.OnFields()
	oref, err := resolve(other, a, joined)
	if err != nil {
		return false, err
	}
	tref, err := resolve(c, mainAlias, this)
	if err != nil {
		return false, err
	}
	sub := "s" + strconv.Itoa(i)
	b.WriteString("(SELECT json_group_array(json(" + sub + ".doc)) FROM (SELECT json_object('id', " + a + ".id, 'version', " +
		a + "._version, 'created_at', " + a + ".created_at, 'updated_at', " + a + ".updated_at, 'body', json(" + a + ".body)) AS doc FROM " +
		quoteIdent(other.Name) + " AS " + a + " WHERE ")
	b.expr(oref)
	b.WriteString(" = ")
	b.expr(tref)
	b.WriteString(" ORDER BY " + a + ".id LIMIT ")
	b.arg(j.Limit)
	b.WriteString(") AS " + sub + ")")
	return !oref.indexed, nil
}

package sqlite

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/quiredb/quire"
)

// SQL reads through the read cache. A read request's results are cached
// when every function it calls is deterministic (below): then the results
// are a function of the statements, their parameters, the key's role, the
// tenant's result limits and the data. The entry depends on the
// collections the statements read (the authorizer reports them); any other
// table can only change through the SQL endpoint or a schema change, which
// invalidate every entry of the tenant.

// deterministicFunctions are the SQL functions whose result depends only on
// their arguments. Anything else (random(), date('now'), changes(), any
// function a newer SQLite adds) keeps a request out of the cache.
var deterministicFunctions = setOf(
	// core scalar
	"abs", "char", "coalesce", "concat", "concat_ws", "format", "glob", "hex", "ifnull", "iif", "if",
	"instr", "length", "like", "likelihood", "likely", "lower", "ltrim", "max", "min", "nullif",
	"octet_length", "printf", "quote", "replace", "round", "rtrim", "sign", "soundex", "substr",
	"substring", "trim", "typeof", "unhex", "unicode", "unlikely", "upper", "zeroblob",
	// aggregate and window
	"avg", "count", "group_concat", "string_agg", "sum", "total",
	"row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile",
	"lag", "lead", "first_value", "last_value", "nth_value",
	// math
	"acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "ceiling", "cos", "cosh",
	"degrees", "exp", "floor", "ln", "log", "log10", "log2", "mod", "pi", "pow", "power", "radians",
	"sin", "sinh", "sqrt", "tan", "tanh", "trunc",
	// JSON
	"json", "jsonb", "json_array", "jsonb_array", "json_array_length", "json_error_position",
	"json_extract", "jsonb_extract", "json_insert", "jsonb_insert", "json_object", "jsonb_object",
	"json_patch", "jsonb_patch", "json_pretty", "json_quote", "json_remove", "jsonb_remove",
	"json_replace", "jsonb_replace", "json_set", "jsonb_set", "json_type", "json_valid",
	"json_group_array", "jsonb_group_array", "json_group_object", "jsonb_group_object",
	"json_each", "json_tree",
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// sqlKey identifies a SQL read among the tenant's cached results.
func (x *sqlRun) cacheKey() (string, error) {
	b, err := json.Marshal(x.req.Statements)
	if err != nil {
		return "", err
	}
	q := x.s.limits()
	head := "s" + string(x.req.Role) + "\x00" + strconv.FormatInt(q.MaxSQLRows, 10) + "\x00" + strconv.FormatInt(q.MaxSQLBytes, 10) + "\x00"
	return head + string(b), nil
}

// cacheDeps are the collections a read pass read, sorted.
func (x *sqlRun) cacheDeps() []string {
	deps := make([]string, 0, len(x.sb.reads))
	for c := range x.sb.reads {
		deps = append(deps, c)
	}
	slices.Sort(deps)
	return deps
}

// fromCache returns a copy of cached results, marked as a hit.
func fromCache(v any) []quire.SQLResult {
	res := slices.Clone(v.([]quire.SQLResult))
	for i := range res {
		res[i].Meta.Cache, res[i].Meta.Duration, res[i].Meta.RowsRead = quire.CacheHit, 0, 0
	}
	return res
}

// markCache sets the cache outcome on every result.
func markCache(res []quire.SQLResult, st quire.CacheStatus) {
	for i := range res {
		res[i].Meta.Cache = st
	}
}

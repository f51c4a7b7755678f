package sqlite

import (
	"fmt"
	"strings"

	"github.com/quiredb/quire"
)

// internalSchema creates Quire's own tables inside a tenant database. Their
// names start with "_quire_", which no valid collection name can.
const internalSchema = `
CREATE TABLE IF NOT EXISTS _quire_meta (
	k TEXT PRIMARY KEY,
	v INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS _quire_collections (
	name TEXT PRIMARY KEY,
	spec TEXT NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS _quire_changes (
	seq INTEGER NOT NULL,
	collection TEXT NOT NULL,
	doc_id TEXT NOT NULL,
	op TEXT NOT NULL,
	version INTEGER NOT NULL,
	at INTEGER NOT NULL,
	key_id TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS _quire_changes_seq ON _quire_changes(seq);
`

// sqlType maps an index type to its STRICT column type.
var sqlType = map[quire.IndexType]string{
	quire.IndexText:    "TEXT",
	quire.IndexInteger: "INTEGER",
	quire.IndexReal:    "REAL",
}

// quoteIdent quotes a name that has already passed quire.ValidName; quoting
// is defence in depth, the grammar already excludes quotes.
func quoteIdent(name string) string { return `"` + name + `"` }

// indexName is the SQLite name of the index on field. The '.' cannot occur
// in a valid name, so distinct (collection, field) pairs never collide.
func indexName(coll, field string) string { return quoteIdent("idx." + coll + "." + field) }

// generatedColumn renders the column definition for an indexed field. The
// path has passed quire.ValidPath, whose grammar cannot close the literal.
func generatedColumn(ix quire.IndexSpec) string {
	kind := "VIRTUAL"
	if ix.Stored {
		kind = "STORED"
	}
	return fmt.Sprintf("%s %s GENERATED ALWAYS AS (json_extract(body, '%s')) %s",
		quoteIdent(ix.Field), sqlType[ix.Type], ix.Path, kind)
}

// createIndex renders the index on an indexed field.
func createIndex(coll string, ix quire.IndexSpec) string {
	unique := ""
	if ix.Unique {
		unique = "UNIQUE "
	}
	return fmt.Sprintf("CREATE %sINDEX %s ON %s(%s)", unique, indexName(coll, ix.Field), quoteIdent(coll), quoteIdent(ix.Field))
}

// createCollection renders the statements creating a collection: the
// seed's table shape, STRICT so index types are enforced, and the triggers
// that log and normalise every write (see triggers.go). created_at,
// updated_at and _version default to what the triggers require, so a SQL
// INSERT may leave them out.
func createCollection(c *quire.Collection) []string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (\n\tid TEXT PRIMARY KEY,\n\tbody TEXT NOT NULL,\n", quoteIdent(c.Name))
	for _, ix := range c.Indexes {
		fmt.Fprintf(&b, "\t%s,\n", generatedColumn(ix))
	}
	b.WriteString("\tcreated_at INTEGER NOT NULL DEFAULT (quire_now()),\n\tupdated_at INTEGER NOT NULL DEFAULT (quire_now()),\n\t_version INTEGER NOT NULL DEFAULT 1\n) STRICT")
	stmts := []string{b.String()}
	for _, ix := range c.Indexes {
		stmts = append(stmts, createIndex(c.Name, ix))
	}
	if c.History {
		stmts = append(stmts, historyTriggers(c.Name)...)
	}
	return append(stmts, collectionTriggers(c.Name)...)
}

// addIndex renders adding an indexed field to an existing table: a VIRTUAL
// generated column (ALTER TABLE cannot add a STORED one) plus its index,
// which stores the values, so lookups cost the same as on a STORED column.
func addIndex(coll string, ix quire.IndexSpec) []string {
	return []string{
		fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s", quoteIdent(coll), generatedColumn(ix)),
		createIndex(coll, ix),
	}
}

// dropIndex renders removing an indexed field and its column.
func dropIndex(coll, field string) []string {
	return []string{
		"DROP INDEX " + indexName(coll, field),
		fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", quoteIdent(coll), quoteIdent(field)),
	}
}

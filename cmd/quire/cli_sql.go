package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

func runSQL(ctx context.Context, args []string) error {
	cmd := newClientCommand("sql", `--tenant T {SQL | --file F} [--param V]... [--json] [--timeout D]`, `
Runs SQL against the tenant's database through the sandboxed SQL endpoint
and prints each statement's rows as a table (NULL for null), or with --json
the endpoint's JSON: one result for one statement, an array for several.

The SQL is the argument, or the contents of --file F (F "-" is standard
input). Several statements separated by ";" are sent as one batch and run
in order as one transaction: if one fails, none takes effect.

--param binds the next "?" of a single statement. V is taken as JSON when it
is a JSON number, true, false, null or a "quoted string", else as text:
--param 42 binds the integer 42, --param Smith and --param '"42"' bind text.

What the key may do depends on its role: read keys only read; write keys
also INSERT, UPDATE and DELETE; admin keys also create their own tables.

Examples:
  quire sql --tenant acme "SELECT id, last_name FROM clients WHERE last_name = ?" --param Smith
  quire sql --tenant acme --file migrate.sql
  quire sql --tenant acme --json "SELECT count(*) AS n FROM clients"`, true)
	file := cmd.fs.String("file", "", "read the SQL from `FILE` (- for standard input); several statements run as one batch")
	var params stringList
	cmd.fs.Var(&params, "param", "bind `VALUE` to the next ? (JSON scalar, else text); repeat for each")
	asJSON := cmd.fs.Bool("json", false, "print the endpoint's JSON instead of tables")
	timeout := cmd.fs.Duration("timeout", 0, "stop the request on the server after `DURATION` (1ms to 30s; default 5s)")
	pos, err := cmd.parse(args, 0, 1)
	if err != nil {
		return err
	}
	if *timeout < 0 {
		return usageError{"--timeout must be positive"}
	}
	text, err := sqlText(pos, *file)
	if err != nil {
		return err
	}
	pieces := quire.SplitSQL(text)
	if len(pieces) == 0 {
		return usageError{"the SQL holds no statement"}
	}
	if len(params) > 0 && len(pieces) > 1 {
		return usageError{fmt.Sprintf("--param binds the parameters of one statement; the SQL holds %d", len(pieces))}
	}
	stmts := make([]quire.SQLStatement, len(pieces))
	for i, p := range pieces {
		stmts[i].SQL = p
	}
	for _, p := range params {
		stmts[0].Params = append(stmts[0].Params, parseParam(p))
	}
	c, err := cmd.client()
	if err != nil {
		return err
	}
	res, err := c.SQLWithOptions(ctx, cmd.tenant, client.SQLOptions{Timeout: *timeout}, stmts...)
	if err != nil {
		return statementContext(err, pieces)
	}
	switch {
	case *asJSON && len(res) == 1:
		return printJSON(res[0])
	case *asJSON:
		return printJSON(res)
	}
	for i := range res {
		if len(res) > 1 {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stdout, "> %s\n", oneLine(pieces[i], 100))
		}
		printTable(&res[i])
	}
	return nil
}

// sqlText returns the SQL of the argument or of --file, exactly one of
// which must be given.
func sqlText(pos []string, file string) (string, error) {
	switch {
	case len(pos) == 1 && file != "":
		return "", usageError{"give the SQL as the argument or with --file, not both"}
	case len(pos) == 1:
		return pos[0], nil
	case file == "":
		return "", usageError{`missing SQL: give it as the argument ("SELECT ...") or with --file F`}
	}
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return "", fmt.Errorf("reading the SQL: %w", err)
	}
	return string(b), nil
}

// parseParam reads a --param value: a JSON scalar (a number as
// json.Number, so the server picks INTEGER or REAL) or else the text.
func parseParam(s string) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return s
	}
	if _, err := dec.Token(); err != io.EOF {
		return s
	}
	switch v.(type) {
	case nil, bool, string, json.Number:
		return v
	}
	return s // an array or object is text
}

// statementContext adds to an error naming one statement of several that
// statement's text.
func statementContext(err error, pieces []string) error {
	var qe *quire.Error
	if len(pieces) < 2 || !errors.As(err, &qe) {
		return err
	}
	i, ok := qe.Details["statement_index"].(float64)
	if !ok || i < 0 || int(i) >= len(pieces) {
		return err
	}
	return fmt.Errorf("%w\n  in: %s", err, oneLine(pieces[int(i)], 200))
}

// oneLine shortens SQL text to one line of at most n characters, without
// its leading "--" comment lines.
func oneLine(s string, n int) string {
	for strings.HasPrefix(s, "--") {
		_, rest, ok := strings.Cut(s, "\n")
		if !ok {
			break
		}
		s = strings.TrimLeft(rest, " \t\r\n")
	}
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// cell is one formatted value of a table: numbers align right.
type cell struct {
	text  string
	right bool
}

// printTable prints a result's rows as a table, like wrangler d1
// execute, followed by a line of counts.
func printTable(r *client.SQLResult) {
	if len(r.Columns) > 0 {
		widths := make([]int, len(r.Columns))
		head := make([]cell, len(r.Columns))
		for j, name := range r.Columns {
			head[j] = cell{text: printable(name)}
			widths[j] = textWidth(head[j].text)
		}
		rows := make([][]cell, len(r.Rows))
		for i, row := range r.Rows {
			rows[i] = make([]cell, len(r.Columns))
			for j := range r.Columns {
				var v any
				if j < len(row) {
					v = row[j]
				}
				rows[i][j] = formatValue(v)
				widths[j] = max(widths[j], textWidth(rows[i][j].text))
			}
		}
		var b strings.Builder
		rule(&b, widths, "┌", "┬", "┐")
		line(&b, widths, head)
		rule(&b, widths, "├", "┼", "┤")
		for _, row := range rows {
			line(&b, widths, row)
		}
		rule(&b, widths, "└", "┴", "┘")
		fmt.Fprint(stdout, b.String())
	}
	fmt.Fprintln(stdout, summary(r))
}

// rule writes a horizontal line of the table.
func rule(b *strings.Builder, widths []int, left, mid, right string) {
	b.WriteString(left)
	for j, w := range widths {
		if j > 0 {
			b.WriteString(mid)
		}
		b.WriteString(strings.Repeat("─", w+2))
	}
	b.WriteString(right + "\n")
}

// line writes one row of the table.
func line(b *strings.Builder, widths []int, cells []cell) {
	b.WriteString("│")
	for j, c := range cells {
		pad := strings.Repeat(" ", widths[j]-textWidth(c.text))
		if c.right {
			b.WriteString(" " + pad + c.text + " │")
		} else {
			b.WriteString(" " + c.text + pad + " │")
		}
	}
	b.WriteString("\n")
}

// formatValue formats a result value for the table: NULL for null,
// numbers as JSON writes them, text with control characters escaped.
func formatValue(v any) cell {
	switch t := v.(type) {
	case nil:
		return cell{text: "NULL"}
	case string:
		return cell{text: printable(t)}
	case int64, float64:
		b, err := json.Marshal(v)
		if err != nil { // ±Inf
			return cell{text: strconv.FormatFloat(t.(float64), 'g', -1, 64), right: true}
		}
		return cell{text: string(b), right: true}
	}
	b, _ := json.Marshal(v)
	return cell{text: printable(string(b))}
}

// printable escapes what would break the table or fool a terminal:
// control characters (\n, \t...) and invisible formatting characters.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == utf8.RuneError || !strconv.IsPrint(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// textWidth is the number of terminal columns s takes: one per rune, two
// for wide (East Asian, emoji) runes.
func textWidth(s string) int {
	w := 0
	for _, r := range s {
		w++
		if wide(r) {
			w++
		}
	}
	return w
}

// wide reports whether r takes two terminal columns (the common ranges of
// East Asian Wide and Fullwidth characters, and emoji).
func wide(r rune) bool {
	return r >= 0x1100 && r <= 0x115F || r >= 0x2E80 && r <= 0xA4CF && r != 0x303F ||
		r >= 0xAC00 && r <= 0xD7A3 || r >= 0xF900 && r <= 0xFAFF || r >= 0xFE30 && r <= 0xFE4F ||
		r >= 0xFF00 && r <= 0xFF60 || r >= 0xFFE0 && r <= 0xFFE6 || r >= 0x1F300 && r <= 0x1FAFF ||
		r >= 0x20000 && r <= 0x3FFFD
}

// summary is the line under a result: rows returned, rows changed, the
// last inserted row id and the time taken.
func summary(r *client.SQLResult) string {
	parts := []string{plural(len(r.Rows), "row")}
	m := r.Meta
	switch {
	case m.Changes > 0:
		parts = append(parts, fmt.Sprintf("%d changed", m.Changes))
	case m.ChangedDB:
		parts = append(parts, "schema changed")
	}
	if m.LastRowID != 0 {
		parts = append(parts, fmt.Sprintf("last_row_id %d", m.LastRowID))
	}
	parts = append(parts, fmt.Sprintf("%g ms", m.Duration))
	return "(" + strings.Join(parts, ", ") + ")"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/quiredb/quire"
)

func runQuery(ctx context.Context, args []string) error {
	cmd := newClientCommand("query", "--tenant T COLL [JSON|-]", `
Runs a document query against collection COLL and prints the answer:
{"docs": [...], "next": CURSOR, "count": N, "meta": {...}}, or with
"explain": true SQLite's plan. JSON is the query (see docs/query.md): where,
sort, limit, after, fields, count, join, explain. It is the argument (quote
it for the shell), or standard input when it is "-" or absent. For the next
page, send the same query with "after": the previous answer's next.

Examples:
  quire query --tenant acme clients '{"where":{"last_name":"Smith"}}'
  quire query --tenant acme clients '{"where":{"postcode":{"$prefix":"SW1"}},"count":true}'
  quire query --tenant acme clients '{"where":{"last_name":"Smith"},
      "join":[{"collection":"finances","on":{"client_id":"id"}}]}'`, true)
	pos, err := cmd.parse(args, 1, 2)
	if err != nil {
		return err
	}
	c, data, err := cmd.clientAndJSON(pos, 1)
	if err != nil {
		return err
	}
	q, err := parseQuery(data)
	if err != nil {
		return err
	}
	q.Collection = pos[0]
	res, err := c.Query(ctx, cmd.tenant, q)
	if err != nil {
		return err
	}
	return printJSON(res)
}

// parseQuery reads a query as the server does: unknown keys, malformed
// filters and data after the object are refused (quire.EInvalid).
func parseQuery(data []byte) (quire.Query, error) {
	var q quire.Query
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return q, quire.Errorf(quire.EInvalid, `the query must be a JSON object such as {"where": {...}}`)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		var qe *quire.Error
		if errors.As(err, &qe) {
			return q, qe
		}
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return q, quire.Errorf(quire.EInvalid, "query: malformed JSON at byte %d: %s", se.Offset, se)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return q, quire.Errorf(quire.EInvalid, "query: the JSON ends early")
		}
		return q, quire.Errorf(quire.EInvalid, "query: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); err != io.EOF {
		return q, quire.Errorf(quire.EInvalid, "query: data after the JSON object")
	}
	return q, nil
}

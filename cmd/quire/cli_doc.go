package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

var docCommands = []subcommand{
	{"put", "create or replace a document", docPut},
	{"get", "print a document", docGet},
	{"patch", "merge-patch a document", docPatch},
	{"delete", "delete a document", docDelete},
	{"create", "create a document with a server-chosen id", docCreate},
	{"list", "list documents in id order, optionally where an indexed field equals a value", docList},
}

func runDoc(ctx context.Context, args []string) error {
	return runGroup(ctx, "doc", docCommands, args)
}

// bodyHelp explains where a document body comes from.
const bodyHelp = `JSON is a JSON object given as the argument (quote it for the shell); when it
is "-" or absent it is read from standard input. An ID starting with "-" must
follow "--".`

// clientAndJSON returns the command's client and the JSON argument at
// pos[i] (or standard input), for the commands that send a document.
func (c *clientCommand) clientAndJSON(pos []string, i int) (*client.Client, json.RawMessage, error) {
	cl, err := c.client()
	if err != nil {
		return nil, nil, err
	}
	body, err := readJSONArg(pos, i)
	if err != nil {
		return nil, nil, err
	}
	return cl, body, nil
}

// readJSONArg returns the JSON argument at pos[i], or standard input if it
// is "-" or absent.
func readJSONArg(pos []string, i int) (json.RawMessage, error) {
	if len(pos) > i && pos[i] != "-" {
		return json.RawMessage(pos[i]), nil
	}
	if f, ok := stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintln(stderr, "Reading the JSON document from standard input (end it with Ctrl-D).")
		}
	}
	b, err := io.ReadAll(stdin)
	if err != nil {
		return nil, fmt.Errorf("reading standard input: %w", err)
	}
	return json.RawMessage(b), nil
}

// conditionFlags declares the conditional-write flags on fs; withPresence
// adds --if-absent and --if-exists. The returned function reads them after
// parsing.
func conditionFlags(fs *flag.FlagSet, withPresence bool) func() client.Condition {
	version := fs.Int64("if-version", 0, "only if the document is at `VERSION` (optimistic concurrency)")
	var absent, exists *bool
	if withPresence {
		absent = fs.Bool("if-absent", false, "only if the document does not exist yet")
		exists = fs.Bool("if-exists", false, "only if the document exists")
	}
	return func() client.Condition {
		c := client.Condition{IfVersion: *version}
		if withPresence {
			c.IfAbsent, c.IfExists = *absent, *exists
		}
		return c
	}
}

// docWrite runs put or patch: COLL ID [JSON|-].
func docWrite(ctx context.Context, args []string, name, help string, withPresence bool,
	write func(c *client.Client, tenant, coll, id string, body json.RawMessage, cond client.Condition) (quire.WriteResult, error)) error {
	cmd := newClientCommand("doc "+name, "--tenant T COLL ID [JSON|-]", help+"\n\n"+bodyHelp, true)
	cond := conditionFlags(cmd.fs, withPresence)
	pos, err := cmd.parse(args, 2, 3)
	if err != nil {
		return err
	}
	if cond().IfVersion < 0 {
		return usageError{"--if-version must be a positive version"}
	}
	c, body, err := cmd.clientAndJSON(pos, 2)
	if err != nil {
		return err
	}
	res, err := write(c, cmd.tenant, pos[0], pos[1], body, cond())
	if err != nil {
		return err
	}
	return printJSON(res)
}

func docPut(ctx context.Context, args []string) error {
	return docWrite(ctx, args, "put", `
Stores JSON as document ID of collection COLL, creating it or replacing it,
and prints the result (with the new version).

Example:
  quire doc put --tenant acme clients c1 '{"name":{"first":"Ada","last":"Smith"}}'`, true,
		func(c *client.Client, tenant, coll, id string, body json.RawMessage, cond client.Condition) (quire.WriteResult, error) {
			return c.Put(ctx, tenant, coll, id, body, cond)
		})
}

func docPatch(ctx context.Context, args []string) error {
	return docWrite(ctx, args, "patch", `
Applies JSON as a merge patch (RFC 7396: keys given replace, null removes a
key) to the existing document ID, and prints the result.

Example:
  quire doc patch --tenant acme clients c1 '{"status":"active","fax":null}'`, false,
		func(c *client.Client, tenant, coll, id string, body json.RawMessage, cond client.Condition) (quire.WriteResult, error) {
			return c.Patch(ctx, tenant, coll, id, body, cond)
		})
}

func docGet(ctx context.Context, args []string) error {
	cmd := newClientCommand("doc get", "--tenant T COLL ID", "Prints document ID of collection COLL: id, version, timestamps and body.", true)
	pos, err := cmd.parse(args, 2, 2)
	if err != nil {
		return err
	}
	c, err := cmd.client()
	if err != nil {
		return err
	}
	d, err := c.Get(ctx, cmd.tenant, pos[0], pos[1])
	if err != nil {
		return err
	}
	return printJSON(d)
}

func docDelete(ctx context.Context, args []string) error {
	cmd := newClientCommand("doc delete", "--tenant T COLL ID", "Deletes document ID of collection COLL and prints the result.", true)
	cond := conditionFlags(cmd.fs, false)
	pos, err := cmd.parse(args, 2, 2)
	if err != nil {
		return err
	}
	c, err := cmd.client()
	if err != nil {
		return err
	}
	res, err := c.Delete(ctx, cmd.tenant, pos[0], pos[1], cond())
	if err != nil {
		return err
	}
	return printJSON(res)
}

func docCreate(ctx context.Context, args []string) error {
	cmd := newClientCommand("doc create", "--tenant T COLL [JSON|-]", `
Stores JSON as a new document of collection COLL under an id the server
chooses (a UUIDv7), and prints the result with that id.

`+bodyHelp, true)
	pos, err := cmd.parse(args, 1, 2)
	if err != nil {
		return err
	}
	c, body, err := cmd.clientAndJSON(pos, 1)
	if err != nil {
		return err
	}
	res, err := c.Create(ctx, cmd.tenant, pos[0], body)
	if err != nil {
		return err
	}
	return printJSON(res)
}

func docList(ctx context.Context, args []string) error {
	cmd := newClientCommand("doc list", "--tenant T COLL [--limit N] [--after CURSOR] [--where FIELD=VALUE]", `
Lists documents of collection COLL in id order, one page at a time, and
prints {"docs": [...], "next": CURSOR}. Pass CURSOR to --after for the next
page; it is empty after the last one. --where keeps the documents whose
indexed FIELD equals VALUE (converted to the field's type).

Example:
  quire doc list --tenant acme clients --where last_name=Smith --limit 10`, true)
	limit := cmd.fs.Int("limit", 0, "at most `N` documents (default 50, at most 1000)")
	after := cmd.fs.String("after", "", "start after `CURSOR`, the next of the previous page")
	where := cmd.fs.String("where", "", "only documents whose indexed field equals a value: `FIELD=VALUE`")
	pos, err := cmd.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if *limit < 0 {
		return usageError{"--limit must be positive"}
	}
	q := quire.ListQuery{Collection: pos[0], Limit: *limit, After: *after}
	if *where != "" {
		var ok bool
		if q.Field, q.Value, ok = strings.Cut(*where, "="); !ok || q.Field == "" {
			return usageError{fmt.Sprintf("--where %q: use FIELD=VALUE", *where)}
		}
	}
	c, err := cmd.client()
	if err != nil {
		return err
	}
	docs, next, err := c.List(ctx, cmd.tenant, q)
	if err != nil {
		return err
	}
	if docs == nil {
		docs = []*quire.Document{}
	}
	return printJSON(map[string]any{"docs": docs, "next": next})
}

package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

var collectionCommands = []subcommand{
	{"create", "create a collection with indexed fields", collectionCreate},
	{"list", "list a tenant's collections", collectionList},
	{"get", "show a collection and its indexes", collectionGet},
	{"delete", "drop a collection and all its documents", collectionDelete},
	{"add-index", "add an indexed field to a collection", collectionAddIndex},
	{"drop-index", "remove an indexed field from a collection", collectionDropIndex},
}

func runCollection(ctx context.Context, args []string) error {
	return runGroup(ctx, "collection", collectionCommands, args)
}

// indexSyntax explains the --index and add-index argument.
const indexSyntax = `An index is FIELD=PATH[:TYPE]:
  FIELD  the indexed field's name, used to filter lists (doc list --where FIELD=VALUE)
  PATH   where its value is in each document: $ then .key and [n] steps, e.g. $.name.first
         or $.tags[0] ("name.first" means "$.name.first")
  TYPE   text (the default), integer or real; a document whose value at PATH
         cannot be stored as TYPE is refused
Quote the argument so the shell leaves $ alone: --index age='$.age:integer'.`

// parseIndexArg parses FIELD=PATH[:TYPE]. Paths cannot contain ':', so
// the type is what follows the last one.
func parseIndexArg(s string) (quire.IndexSpec, error) {
	field, spec, ok := strings.Cut(s, "=")
	if !ok || field == "" || spec == "" {
		return quire.IndexSpec{}, usageError{fmt.Sprintf("index %q: use FIELD=PATH[:TYPE], for example age='$.age:integer'", s)}
	}
	ix := quire.IndexSpec{Field: field, Path: spec}
	if i := strings.LastIndexByte(spec, ':'); i >= 0 {
		ix.Path, ix.Type = spec[:i], quire.IndexType(spec[i+1:])
		switch ix.Type {
		case quire.IndexText, quire.IndexInteger, quire.IndexReal:
		default:
			return quire.IndexSpec{}, usageError{fmt.Sprintf("index %q: type %q is not text, integer or real", s, ix.Type)}
		}
	}
	return ix, nil
}

func collectionCreate(ctx context.Context, args []string) error {
	cmd := newClientCommand("collection create", "--tenant T NAME [--index FIELD=PATH[:TYPE]]... [--unique FIELD]... [--history]", `
Creates collection NAME with the indexed fields given by --index, and prints
it. --unique FIELD makes the index of FIELD (declared with --index) unique:
a second document with the same value is refused. --history keeps every
prior version of each document (audit history). An existing collection
is left alone (a conflict error): change it with add-index and drop-index.

`+indexSyntax+`

Example:
  quire collection create --tenant acme clients --index last_name='$.name.last' \
      --index age='$.age:integer' --index email='$.email' --unique email`, true)
	var indexes, uniques stringList
	cmd.fs.Var(&indexes, "index", "declare an indexed field, `FIELD=PATH[:TYPE]` (see above); repeat for several")
	cmd.fs.Var(&uniques, "unique", "make the index of `FIELD` unique; repeat for several")
	history := cmd.fs.Bool("history", false, "keep every prior version of each document")
	pos, err := cmd.parse(args, 1, 1)
	if err != nil {
		return err
	}
	coll := quire.Collection{Name: pos[0], History: *history}
	for _, s := range indexes {
		ix, err := parseIndexArg(s)
		if err != nil {
			return err
		}
		coll.Indexes = append(coll.Indexes, ix)
	}
	for _, f := range uniques {
		i := indexOf(coll.Indexes, f)
		if i < 0 {
			return usageError{fmt.Sprintf("--unique %s: declare the field with --index %s=PATH first", f, f)}
		}
		coll.Indexes[i].Unique = true
	}
	c, err := cmd.client()
	if err != nil {
		return err
	}
	// The API's PUT is declarative and would reconcile an existing
	// collection's indexes, dropping those not listed: "create" must not.
	if _, err := c.Collection(ctx, cmd.tenant, coll.Name); err == nil {
		return quire.Errorf(quire.EConflict, "collection %q already exists; change its indexes with add-index and drop-index", coll.Name)
	} else if quire.ErrorCode(err) != quire.ENotFound {
		return err
	}
	out, err := c.PutCollection(ctx, cmd.tenant, coll)
	if err != nil {
		return err
	}
	return printJSON(out)
}

func indexOf(ixs []quire.IndexSpec, field string) int {
	for i, ix := range ixs {
		if ix.Field == field {
			return i
		}
	}
	return -1
}

func collectionList(ctx context.Context, args []string) error {
	cmd := newClientCommand("collection list", "--tenant T", "Lists the tenant's collections with their indexes.", true)
	return cmd.run(args, 0, 0, func(c *client.Client, pos []string) (any, error) {
		cs, err := c.Collections(ctx, cmd.tenant)
		return map[string]any{"collections": cs}, err
	})
}

func collectionGet(ctx context.Context, args []string) error {
	cmd := newClientCommand("collection get", "--tenant T NAME", "Shows collection NAME and its indexes.", true)
	return cmd.run(args, 1, 1, func(c *client.Client, pos []string) (any, error) {
		return c.Collection(ctx, cmd.tenant, pos[0])
	})
}

func collectionDelete(ctx context.Context, args []string) error {
	cmd := newClientCommand("collection delete", "--tenant T NAME", "Drops collection NAME and all its documents. There is no undo.", true)
	return cmd.run(args, 1, 1, func(c *client.Client, pos []string) (any, error) {
		return map[string]any{"name": pos[0], "deleted": true}, c.DeleteCollection(ctx, cmd.tenant, pos[0])
	})
}

func collectionAddIndex(ctx context.Context, args []string) error {
	cmd := newClientCommand("collection add-index", "--tenant T NAME FIELD=PATH[:TYPE] [--unique]", `
Adds an indexed field to collection NAME and prints the collection. Every
existing document is checked against the field's type (and uniqueness);
if one fails, nothing changes.

`+indexSyntax+`

Example:
  quire collection add-index --tenant acme clients email='$.email' --unique`, true)
	unique := cmd.fs.Bool("unique", false, "make the index unique")
	pos, err := cmd.parse(args, 2, 2)
	if err != nil {
		return err
	}
	ix, err := parseIndexArg(pos[1])
	if err != nil {
		return err
	}
	ix.Unique = *unique
	c, err := cmd.client()
	if err != nil {
		return err
	}
	out, err := c.AddIndex(ctx, cmd.tenant, pos[0], ix)
	if err != nil {
		return err
	}
	return printJSON(out)
}

func collectionDropIndex(ctx context.Context, args []string) error {
	cmd := newClientCommand("collection drop-index", "--tenant T NAME FIELD", "Removes the indexed field FIELD from collection NAME and prints the collection.", true)
	return cmd.run(args, 2, 2, func(c *client.Client, pos []string) (any, error) {
		return c.DropIndex(ctx, cmd.tenant, pos[0], pos[1])
	})
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/quiredb/quire"
)

// changesPollEvery is how often --follow asks for new changes.
var changesPollEvery = time.Second

func runChanges(ctx context.Context, args []string) error {
	cmd := newClientCommand("changes", "--tenant T [--since CURSOR] [--collection C] [--limit N] [--body] [--follow]", `
Prints a tenant's change feed, one change per line (NDJSON), in commit
order: bookmark, cursor, collection, id, op (put, delete, purge), version,
at (ms) and key_id. Each change's cursor resumes the feed right after it:
pass the last one printed to --since to continue where you stopped, without
missing or repeating a change. Without --since the feed starts at the
oldest change still retained (--changes-retention on the server).

--follow keeps printing new changes as they commit until interrupted.

Example:
  quire changes --tenant acme --collection clients --follow`, true)
	since := cmd.fs.String("since", "", "start after `CURSOR` (a change's cursor, or any bookmark of the tenant)")
	coll := cmd.fs.String("collection", "", "only the changes of collection `C`")
	limit := cmd.fs.Int("limit", 0, "at most `N` changes per request (default 100, at most 1000)")
	body := cmd.fs.Bool("body", false, "include each change's document body, when still kept")
	follow := cmd.fs.Bool("follow", false, "keep printing new changes until interrupted")
	if _, err := cmd.parse(args, 0, 0); err != nil {
		return err
	}
	c, err := cmd.client()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	q := quire.ChangesQuery{Since: *since, Collection: *coll, Limit: *limit, Body: *body}
	for {
		page, err := c.Changes(ctx, cmd.tenant, q)
		if err != nil {
			if *follow && errors.Is(ctx.Err(), context.Canceled) {
				return nil // interrupted while following: a normal end
			}
			return err
		}
		for _, ch := range page.Changes {
			if err := enc.Encode(ch); err != nil {
				return err
			}
		}
		q.Since = page.Next
		if len(page.Changes) > 0 {
			continue // there may be more right away
		}
		if !*follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(changesPollEvery):
		}
	}
}

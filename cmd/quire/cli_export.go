package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

func runExport(ctx context.Context, args []string) error {
	cmd := newClientCommand("export", "--tenant ID [--collection NAME] [--out FILE] [flags]", `
Exports a tenant's data as NDJSON, read from one consistent snapshot: first
one line per collection with its index definitions, then one line per
document with its collection, id, version, created_at, updated_at and body.
Writes to standard output, or to FILE (which appears only once the export
is complete).

Examples:
  quire export --tenant acme > acme.ndjson
  quire export --tenant acme --collection clients --out clients.ndjson`, true)
	coll := cmd.fs.String("collection", "", "export only collection `NAME`")
	out := cmd.fs.String("out", "", "write to `FILE` instead of standard output")
	if _, err := cmd.parse(args, 0, 0); err != nil {
		return err
	}
	c, err := cmd.client()
	if err != nil {
		return err
	}
	if *out == "" {
		_, err := c.Export(ctx, cmd.tenant, *coll, stdout)
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".partial-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = c.Export(ctx, cmd.tenant, *coll, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), *out)
	}
	return err
}

// importBatchBytes bounds one import request, below the server's default
// request body limit.
const importBatchBytes = 8 << 20

func runImport(ctx context.Context, args []string) error {
	cmd := newClientCommand("import", "--tenant ID [flags] [FILE]", `
Imports an NDJSON export (from "quire export") into a tenant, reading FILE
or standard input as a stream and sending it in batches. Collections are
created with their indexes if missing; documents keep their id, version and
timestamps. A document the tenant already holds at the same or a newer
version is skipped, so an interrupted import can be run again (or resumed
at a line with --resume-from; the collection lines at the top are still
read). Rejected lines are reported with their line
numbers on standard error and the import goes on; the exit status is 1 if
any line was rejected. Progress is shown on standard error when it is a
terminal.

Examples:
  quire import --tenant acme_copy acme.ndjson
  quire export --tenant acme | quire import --tenant acme_copy`, true)
	batch := cmd.fs.Int("batch", 500, "lines per request (`N`)")
	resume := cmd.fs.Int("resume-from", 1, "start at line `LINE` of the input (lines count from 1)")
	pos, err := cmd.parse(args, 0, 1)
	if err != nil {
		return err
	}
	if *batch < 1 || *batch > 10000 {
		return usageError{"--batch must be between 1 and 10000"}
	}
	if *resume < 1 {
		return usageError{"--resume-from must be a line number, from 1"}
	}
	c, err := cmd.client()
	if err != nil {
		return err
	}
	in := stdin
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	imp := &importer{c: c, tenant: cmd.tenant, progress: isTerminal(stderr)}
	if err := imp.run(ctx, in, *batch, *resume); err != nil {
		return err
	}
	if imp.progress {
		fmt.Fprintln(stderr)
	}
	if err := printJSON(imp.total); err != nil {
		return err
	}
	if n := len(imp.total.Rejected); n > 0 {
		return fmt.Errorf("%d lines rejected", n)
	}
	return nil
}

// importer sends an NDJSON stream to a tenant in batches.
type importer struct {
	c        *client.Client
	tenant   string
	progress bool
	total    quire.ImportResult
	lines    int // lines read so far
}

// run reads in, skipping lines before resume, and sends batches of at most
// batch lines and importBatchBytes bytes.
func (imp *importer) run(ctx context.Context, in io.Reader, batch, resume int) error {
	imp.total.Rejected = []quire.ImportRejection{}
	br := bufio.NewReaderSize(in, 1<<20)
	var buf bytes.Buffer
	first, n := 0, 0
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			imp.lines++
			// Collection definitions before the resume point are sent
			// anyway: the documents after it need their collections.
			if imp.lines >= resume || bytes.HasPrefix(line, []byte(`{"kind":"collection"`)) {
				if n == 0 {
					first = imp.lines
				}
				if line[len(line)-1] != '\n' {
					line = append(line, '\n')
				}
				// A batch is numbered from its first line, so it holds
				// consecutive lines only.
				if n > 0 && (buf.Len()+len(line) > importBatchBytes || imp.lines != first+n) {
					if serr := imp.send(ctx, first, buf.Bytes()); serr != nil {
						return serr
					}
					buf.Reset()
					n, first = 0, imp.lines
				}
				buf.Write(line)
				n++
				if n == batch {
					if serr := imp.send(ctx, first, buf.Bytes()); serr != nil {
						return serr
					}
					buf.Reset()
					n = 0
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if n > 0 {
		return imp.send(ctx, first, buf.Bytes())
	}
	return nil
}

// send imports one batch, reports its rejected lines and adds it up.
func (imp *importer) send(ctx context.Context, first int, body []byte) error {
	res, err := imp.c.Import(ctx, imp.tenant, first, body)
	if err != nil {
		return fmt.Errorf("import lines %d to %d: %w (rerun with --resume-from %d)", first, imp.lines, err, first)
	}
	if imp.progress {
		fmt.Fprint(stderr, "\r\033[K")
	}
	for _, r := range res.Rejected {
		fmt.Fprintf(stderr, "line %d: %s: %s\n", r.Line, r.Error.Code, r.Error.Message)
	}
	t := &imp.total
	t.Collections += res.Collections
	t.Imported += res.Imported
	t.Skipped += res.Skipped
	t.Rejected = append(t.Rejected, res.Rejected...)
	t.Bookmark = res.Bookmark
	if imp.progress {
		fmt.Fprintf(stderr, "line %d: %d imported, %d skipped, %d rejected", imp.lines, t.Imported, t.Skipped, len(t.Rejected))
	}
	return nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

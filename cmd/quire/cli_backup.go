package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

func runBackup(ctx context.Context, args []string) error {
	cmd := newClientCommand("backup", "--tenant ID --out FILE [flags]", `
Takes an online, consistent backup of a tenant while writes continue (admin
token) and writes it to FILE, a .qbak file: a manifest (tenant, region,
epoch, sequence, size, SHA-256) followed by the tenant's SQLite database.
The file appears only once the whole backup has arrived.

Example:
  quire backup --tenant acme --out acme.qbak`, true)
	out := cmd.fs.String("out", "", "the backup `FILE` to write (required)")
	if _, err := cmd.parse(args, 0, 0); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"--out is required"}
	}
	c, err := cmd.client()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".partial-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	n, err := c.Backup(ctx, cmd.tenant, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), *out)
	}
	if err != nil {
		return err
	}
	return printJSON(map[string]any{"tenant": cmd.tenant, "file": *out, "bytes": n})
}

func runRestore(ctx context.Context, args []string) error {
	cmd := newClientCommand("restore", "--tenant ID --in FILE [--as NEWID] [flags]", `
Restores a tenant from a backup file made by "quire backup" (admin token).
The tenant's current data is replaced by the backup's, in a new epoch:
bookmarks issued before the restore are refused with invalid_bookmark.
With --as, the backup is restored as another tenant, created if missing
(its bookmarks are distinct from the original tenant's). A truncated or
damaged file is refused (invalid_backup) and nothing is changed.

Examples:
  quire restore --tenant acme --in acme.qbak
  quire restore --tenant acme --in acme.qbak --as acme_copy`, true)
	in := cmd.fs.String("in", "", "the backup `FILE` to restore (required)")
	as := cmd.fs.String("as", "", "restore as tenant `NEWID` instead")
	if _, err := cmd.parse(args, 0, 0); err != nil {
		return err
	}
	if *in == "" {
		return usageError{"--in is required"}
	}
	target := cmd.tenant
	if *as != "" {
		target = *as
	}
	c, err := cmd.client()
	if err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := c.Restore(ctx, target, f)
	if err != nil {
		return fmt.Errorf("restore %s as %q: %w", *in, target, err)
	}
	return printJSON(res)
}

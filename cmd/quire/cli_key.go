package main

import (
	"context"
	"fmt"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

var keyCommands = []subcommand{
	{"create", "create an API key and print its secret (once)", keyCreate},
	{"list", "list a tenant's keys (never their secrets)", keyList},
	{"delete", "revoke a key", keyDelete},
}

func runKey(ctx context.Context, args []string) error {
	return runGroup(ctx, "key", keyCommands, args)
}

func keyCreate(ctx context.Context, args []string) error {
	cmd := newClientCommand("key create", "--tenant T --role read|write|admin [--name N] [--secret-only]", `
Creates an API key of the tenant and prints it with its secret, the token
clients authenticate with (QUIRE_TOKEN, or Authorization: Bearer). The
secret is shown only this once and cannot be recovered: store it now.

Roles: read (read documents), write (also write documents), admin (also
change collections and manage keys).

Example:
  export QUIRE_TOKEN=$(quire key create --tenant acme --role write --secret-only)`, true)
	role := cmd.fs.String("role", "", "the key's `ROLE`: read, write or admin (required)")
	name := cmd.fs.String("name", "", "a `NAME` saying what the key is for")
	secretOnly := cmd.fs.Bool("secret-only", false, "print only the secret, for scripts")
	if _, err := cmd.parse(args, 0, 0); err != nil {
		return err
	}
	if !quire.Role(*role).Valid() {
		return usageError{fmt.Sprintf("--role must be read, write or admin, not %q", *role)}
	}
	c, err := cmd.client()
	if err != nil {
		return err
	}
	k, secret, err := c.CreateKey(ctx, cmd.tenant, quire.Role(*role), *name)
	if err != nil {
		return err
	}
	if *secretOnly {
		_, err := fmt.Fprintln(stdout, secret)
		return err
	}
	fmt.Fprintln(stderr, "Store the secret now: it is shown only this once and cannot be recovered.")
	return printJSON(struct {
		*quire.Key
		Secret string `json:"secret"`
	}{k, secret})
}

func keyList(ctx context.Context, args []string) error {
	cmd := newClientCommand("key list", "--tenant T", "Lists the tenant's keys, without their secrets.", true)
	return cmd.run(args, 0, 0, func(c *client.Client, pos []string) (any, error) {
		ks, err := c.Keys(ctx, cmd.tenant)
		return map[string]any{"keys": ks}, err
	})
}

func keyDelete(ctx context.Context, args []string) error {
	cmd := newClientCommand("key delete", "--tenant T ID", "Revokes key ID of the tenant: it stops working at once.", true)
	return cmd.run(args, 1, 1, func(c *client.Client, pos []string) (any, error) {
		return map[string]any{"id": pos[0], "deleted": true}, c.DeleteKey(ctx, cmd.tenant, pos[0])
	})
}

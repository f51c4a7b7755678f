package main

import (
	"context"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

var tenantCommands = []subcommand{
	{"create", "create a tenant (admin token)", tenantCreate},
	{"list", "list every tenant (admin token)", tenantList},
	{"get", "show a tenant", tenantGet},
	{"delete", "delete a tenant with its keys and data (admin token)", tenantDelete},
}

func runTenant(ctx context.Context, args []string) error {
	return runGroup(ctx, "tenant", tenantCommands, args)
}

func tenantCreate(ctx context.Context, args []string) error {
	cmd := newClientCommand("tenant create", "[flags] ID", `
Creates tenant ID (1-63 characters a-z, 0-9 and _, starting with a letter)
and prints it. Its database is created on first use.

Example:
  quire tenant create acme --region uk --name "Acme Ltd" --domain acme.example.com`, false)
	region := cmd.fs.String("region", "", "the tenant's `REGION` (default: the server's --region)")
	name := cmd.fs.String("name", "", "a display `NAME`")
	var domains stringList
	cmd.fs.Var(&domains, "domain", "a host `NAME` that addresses the tenant; repeat for several")
	pos, err := cmd.parse(args, 1, 1)
	if err != nil {
		return err
	}
	c, err := cmd.client()
	if err != nil {
		return err
	}
	t, err := c.CreateTenant(ctx, quire.TenantCreate{ID: pos[0], Region: *region, Name: *name, Domains: domains})
	if err != nil {
		return err
	}
	return printJSON(t)
}

func tenantList(ctx context.Context, args []string) error {
	cmd := newClientCommand("tenant list", "[flags]", "Lists every tenant, by id.", false)
	return cmd.run(args, 0, 0, func(c *client.Client, pos []string) (any, error) {
		ts, err := c.Tenants(ctx)
		return map[string]any{"tenants": ts}, err
	})
}

func tenantGet(ctx context.Context, args []string) error {
	cmd := newClientCommand("tenant get", "[flags] ID", "Shows tenant ID.", false)
	return cmd.run(args, 1, 1, func(c *client.Client, pos []string) (any, error) {
		return c.Tenant(ctx, pos[0])
	})
}

func tenantDelete(ctx context.Context, args []string) error {
	cmd := newClientCommand("tenant delete", "[flags] ID", `
Deletes tenant ID: its keys stop working and its database files are
removed. There is no undo.`, false)
	return cmd.run(args, 1, 1, func(c *client.Client, pos []string) (any, error) {
		return map[string]any{"id": pos[0], "deleted": true}, c.DeleteTenant(ctx, pos[0])
	})
}

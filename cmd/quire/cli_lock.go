package main

import (
	"context"
	"strconv"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

// The lock and counter commands are for operators looking at (or
// freeing) a tenant's coordination state; applications use the API.

var lockCommands = []subcommand{
	{"get", "show a lock: its newest token, and its holder while held", lockGet},
	{"acquire", "take a lock's lease and print its fencing token", lockAcquire},
	{"renew", "extend the lease of the token you hold", lockRenew},
	{"release", "give a lease back (by its token)", lockRelease},
}

func runLock(ctx context.Context, args []string) error {
	return runGroup(ctx, "lock", lockCommands, args)
}

func lockGet(ctx context.Context, args []string) error {
	cmd := newClientCommand("lock get", "--tenant T NAME", "Prints lock NAME: its newest token, and owner and expires_at (ms) while held.", true)
	return cmd.run(args, 1, 1, func(c *client.Client, pos []string) (any, error) {
		return c.GetLock(ctx, cmd.tenant, pos[0])
	})
}

func lockAcquire(ctx context.Context, args []string) error {
	cmd := newClientCommand("lock acquire", "--tenant T NAME [--owner O] [--ttl-ms N]", `
Takes lock NAME for --ttl-ms (default 30000) and prints it with its fencing
token. Writes that must not outlive the lease carry the header
Quire-Fence: NAME=TOKEN. A lease someone else holds answers lock_held.

Example:
  quire lock acquire --tenant acme nightly-import --owner ops --ttl-ms 600000`, true)
	owner := cmd.fs.String("owner", "", "who holds it, shown to others (`O`, at most 256 bytes)")
	ttl := cmd.fs.Int64("ttl-ms", 0, "lease length in milliseconds (`N`, default 30000, at most 600000)")
	return cmd.run(args, 1, 1, func(c *client.Client, pos []string) (any, error) {
		return c.AcquireLock(ctx, cmd.tenant, pos[0], quire.LockRequest{Owner: *owner, TTLMillis: *ttl})
	})
}

func lockRenew(ctx context.Context, args []string) error {
	cmd := newClientCommand("lock renew", "--tenant T NAME --fence-token TOKEN [--ttl-ms N]", "Extends the lease of TOKEN, which must still be the lock's newest and live (else stale_fence).", true)
	token := cmd.fs.Int64("fence-token", 0, "the lease's fencing `TOKEN` (required)")
	ttl := cmd.fs.Int64("ttl-ms", 0, "new lease length from now, in milliseconds (`N`, default 30000)")
	return cmd.run(args, 1, 1, func(c *client.Client, pos []string) (any, error) {
		if *token <= 0 {
			return nil, usageError{"--fence-token is required"}
		}
		return c.RenewLock(ctx, cmd.tenant, pos[0], *token, *ttl)
	})
}

func lockRelease(ctx context.Context, args []string) error {
	cmd := newClientCommand("lock release", "--tenant T NAME --fence-token TOKEN", "Releases the lease of TOKEN; an older token answers stale_fence and leaves the newer holder alone.", true)
	token := cmd.fs.Int64("fence-token", 0, "the lease's fencing `TOKEN` (required)")
	return cmd.run(args, 1, 1, func(c *client.Client, pos []string) (any, error) {
		if *token <= 0 {
			return nil, usageError{"--fence-token is required"}
		}
		released, err := c.ReleaseLock(ctx, cmd.tenant, pos[0], *token)
		return map[string]any{"lock": pos[0], "token": *token, "released": released}, err
	})
}

var counterCommands = []subcommand{
	{"get", "print a counter (0 if never set)", counterGet},
	{"add", "add a delta (negative to subtract) and print the new value", counterAdd},
	{"delete", "remove a counter", counterDelete},
}

func runCounter(ctx context.Context, args []string) error {
	return runGroup(ctx, "counter", counterCommands, args)
}

func counterGet(ctx context.Context, args []string) error {
	cmd := newClientCommand("counter get", "--tenant T NAME", "Prints counter NAME (in memory: counters do not survive a restart).", true)
	return cmd.run(args, 1, 1, func(c *client.Client, pos []string) (any, error) {
		v, err := c.Counter(ctx, cmd.tenant, pos[0])
		return map[string]any{"name": pos[0], "value": v}, err
	})
}

func counterAdd(ctx context.Context, args []string) error {
	cmd := newClientCommand("counter add", "--tenant T NAME DELTA", "Adds DELTA (an integer, negative to subtract) to counter NAME atomically and prints the new value.\nA negative DELTA follows --: quire counter add --tenant acme seats -- -1", true)
	return cmd.run(args, 2, 2, func(c *client.Client, pos []string) (any, error) {
		delta, err := parseInt64Arg("DELTA", pos[1])
		if err != nil {
			return nil, err
		}
		v, err := c.AddCounter(ctx, cmd.tenant, pos[0], delta)
		return map[string]any{"name": pos[0], "value": v}, err
	})
}

func counterDelete(ctx context.Context, args []string) error {
	cmd := newClientCommand("counter delete", "--tenant T NAME", "Removes counter NAME.", true)
	return cmd.run(args, 1, 1, func(c *client.Client, pos []string) (any, error) {
		existed, err := c.DeleteCounter(ctx, cmd.tenant, pos[0])
		return map[string]any{"name": pos[0], "deleted": existed}, err
	})
}

// parseInt64Arg parses argument name as a base-10 integer.
func parseInt64Arg(name, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, usageError{name + " must be an integer, not " + strconv.Quote(s)}
	}
	return n, nil
}

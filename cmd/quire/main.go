// Command quire is the Quire server and its command-line client.
//
//	quire serve [flags]          run the server
//	quire tenant|key|collection|doc ...   talk to a running server
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand: it parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{
	"serve":      {"run the server", runServe},
	"tenant":     {"create, list, show and delete tenants", runTenant},
	"key":        {"create, list and revoke API keys", runKey},
	"collection": {"create, list, show and drop collections and indexes", runCollection},
	"doc":        {"put, get, patch, delete and list documents", runDoc},
	"query":      {"query a collection's documents: filters, sort, pages, joins", runQuery},
	"sql":        {"run SQL against a tenant's database, printed as tables", runSQL},
	"backup":     {"take an online backup of a tenant to a .qbak file", runBackup},
	"restore":    {"restore a tenant from a .qbak backup, in a new epoch", runRestore},
	"export":     {"export a tenant's collections and documents as NDJSON", runExport},
	"import":     {"import an NDJSON export into a tenant", runImport},
	"changes":    {"print a tenant's change feed, or follow it", runChanges},
	"lock":       {"show, take, renew and release locks (fencing tokens)", runLock},
	"counter":    {"show, add to and delete in-memory counters", runCounter},
	"version":    {"print the version", runVersion},
	"bench":      {"seed a data set and measure Quire against its ceilings", runBench},
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage()
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "quire: unknown command %q\n\n", args[0])
		usage()
		return 2
	}
	if err := cmd.run(ctx, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "quire %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(os.Stderr, "quire %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usage() {
	fmt.Fprint(os.Stderr, `Quire: a multi-tenant JSON document database server.

Usage: quire <command> [flags] [arguments]

Commands:
`)
	for _, name := range []string{"serve", "tenant", "key", "collection", "doc", "query", "sql", "backup", "restore", "export", "import", "changes", "lock", "counter", "bench", "version"} {
		fmt.Fprintf(os.Stderr, "  %-11s %s\n", name, commands[name].summary)
	}
	fmt.Fprint(os.Stderr, `
Run "quire <command> --help" for a command's flags. Client commands read
QUIRE_URL and QUIRE_TOKEN (or --url and --token).
`)
}

func runVersion(ctx context.Context, args []string) error {
	fmt.Println("quire", version)
	return nil
}

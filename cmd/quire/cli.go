package main

// The client subcommands' shared parts: output streams, flag parsing that
// accepts flags before and after arguments, and subcommand dispatch.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/quiredb/quire/client"
)

// The client commands' streams; tests replace them.
var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
	stdin  io.Reader = os.Stdin
)

// defaultURL is the server address when neither --url nor QUIRE_URL is set.
const defaultURL = "http://127.0.0.1:8080"

// subcommand is one verb of a command group ("create" of "tenant").
type subcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

// runGroup runs the subcommand of group named by args[0].
func runGroup(ctx context.Context, group string, subs []subcommand, args []string) error {
	if len(args) == 0 {
		groupUsage(group, subs)
		return usageError{"missing subcommand"}
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		groupUsage(group, subs)
		return flag.ErrHelp
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, args[1:])
		}
	}
	return usageError{fmt.Sprintf("unknown subcommand %q; run \"quire %s --help\"", args[0], group)}
}

func groupUsage(group string, subs []subcommand) {
	fmt.Fprintf(stderr, "Usage: quire %s <subcommand> [flags] [arguments]\n\nSubcommands:\n", group)
	for _, s := range subs {
		fmt.Fprintf(stderr, "  %-11s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(stderr, "\nRun \"quire %s <subcommand> --help\" for its flags.\n", group)
}

// clientCommand is one client subcommand being run: its flag set, with
// the flags every client command has.
type clientCommand struct {
	fs     *flag.FlagSet
	usage  string // "quire doc put [flags] COLL ID [JSON|-]"
	url    string
	token  string
	tenant string
}

// newClientCommand makes the flag set of "quire <name>": synopsis follows
// the name in the usage line, help explains the command. withTenant adds
// the required --tenant flag.
func newClientCommand(name, synopsis, help string, withTenant bool) *clientCommand {
	c := &clientCommand{fs: flag.NewFlagSet("quire "+name, flag.ContinueOnError), usage: "quire " + name + " " + synopsis}
	c.fs.SetOutput(stderr)
	c.fs.StringVar(&c.url, "url", "", "server `URL` (default $QUIRE_URL, else "+defaultURL+")")
	c.fs.StringVar(&c.token, "token", "", "admin token or key secret, the `TOKEN` to authenticate with (default $QUIRE_TOKEN)")
	if withTenant {
		c.fs.StringVar(&c.tenant, "tenant", "", "tenant `ID` (required)")
	}
	c.fs.Usage = func() {
		fmt.Fprintf(c.fs.Output(), "Usage: %s\n\n%s\n\nFlags and arguments may come in any order; after -- everything is an argument.\n\nFlags:\n",
			c.usage, strings.TrimSpace(help))
		c.fs.PrintDefaults()
	}
	return c
}

// parse parses args, flags and arguments in any order, and returns the
// arguments, of which there must be between min and max (max < 0: any).
func (c *clientCommand) parse(args []string, min, max int) ([]string, error) {
	pos, err := parseInterleaved(c.fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	if c.fs.Lookup("tenant") != nil && c.tenant == "" {
		return nil, usageError{"--tenant is required"}
	}
	switch {
	case len(pos) < min:
		return nil, usageError{fmt.Sprintf("missing arguments; usage: %s", c.usage)}
	case max >= 0 && len(pos) > max:
		return nil, usageError{fmt.Sprintf("unexpected argument %q; usage: %s", pos[max], c.usage)}
	}
	return pos, nil
}

// parseInterleaved parses fs's flags wherever they appear in args (Go's
// flag package stops at the first argument) and returns the arguments in
// order. Everything after "--" is an argument.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// run is the shape of most client commands: parse args (between min and
// max arguments), make the client, and print what call returns as JSON.
func (c *clientCommand) run(args []string, min, max int, call func(cl *client.Client, pos []string) (any, error)) error {
	pos, err := c.parse(args, min, max)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	out, err := call(cl, pos)
	if err != nil {
		return err
	}
	return printJSON(out)
}

// client returns a client for the command's --url and --token.
func (c *clientCommand) client() (*client.Client, error) {
	u := c.url
	if u == "" {
		u = os.Getenv("QUIRE_URL")
	}
	if u == "" {
		u = defaultURL
	}
	token := c.token
	if token == "" {
		token = os.Getenv("QUIRE_TOKEN")
	}
	if token == "" {
		return nil, usageError{"no token: set QUIRE_TOKEN or pass --token"}
	}
	return client.New(u, token, client.WithUserAgent("quire-cli/"+version)), nil
}

// printJSON writes v to stdout as indented JSON. Characters such as < and
// & are written as they are, not escaped, so documents print as stored.
func printJSON(v any) error {
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

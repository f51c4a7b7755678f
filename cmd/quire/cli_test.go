package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/actor"
	"github.com/quiredb/quire/registry"
	"github.com/quiredb/quire/server"
)

const testAdminToken = "cli-test-admin-token"

// startServer runs a real Quire server on 127.0.0.1 over a temporary data
// directory and points the client commands at it with the admin token.
func startServer(t *testing.T) {
	t.Helper()
	reg, err := registry.New(registry.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	hub := actor.New(actor.Config{})
	hs := httptest.NewServer(server.New(server.Config{AdminToken: testAdminToken, Actors: hub}, reg, reg))
	t.Cleanup(func() {
		hs.Close()
		hub.Close()
		if err := reg.Close(); err != nil {
			t.Errorf("registry.Close: %v", err)
		}
	})
	t.Setenv("QUIRE_URL", hs.URL)
	t.Setenv("QUIRE_TOKEN", testAdminToken)
}

// cliResult is what one run of the command printed and returned.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs "quire args..." with input as standard input and captures
// its output. main.go writes its error lines to os.Stderr, so that is
// captured too.
func runCLI(t *testing.T, input string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	oldOut, oldErr, oldIn, oldOSErr := stdout, stderr, stdin, os.Stderr
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	piped := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		piped <- b
	}()
	stdout, stderr, stdin, os.Stderr = &out, &errOut, strings.NewReader(input), w
	code := run(context.Background(), args)
	stdout, stderr, stdin, os.Stderr = oldOut, oldErr, oldIn, oldOSErr
	w.Close()
	errOut.Write(<-piped)
	r.Close()
	return cliResult{code: code, stdout: out.String(), stderr: errOut.String()}
}

// mustRun runs the command and fails the test unless it succeeds.
func mustRun(t *testing.T, input string, args ...string) string {
	t.Helper()
	res := runCLI(t, input, args...)
	if res.code != 0 {
		t.Fatalf("quire %s: exit %d, stderr:\n%s", strings.Join(args, " "), res.code, res.stderr)
	}
	return res.stdout
}

func TestQuickStart(t *testing.T) {
	startServer(t)
	mustRun(t, "", "tenant", "create", "acme", "--region", "uk")
	keyOut := mustRun(t, "", "key", "create", "--tenant", "acme", "--role", "write")
	var key struct {
		Role   string `json:"role"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(keyOut), &key); err != nil {
		t.Fatalf("key create printed %q: %v", keyOut, err)
	}
	if key.Role != "write" || !strings.HasPrefix(key.Secret, "quire_") {
		t.Errorf("key create printed role %q, secret %q; want write and a quire_ secret", key.Role, key.Secret)
	}
	mustRun(t, "", "collection", "create", "--tenant", "acme", "clients",
		"--index", "first_name=$.name.first", "--index", "last_name=$.name.last", "--index", "postcode=$.address.postcode")
	const doc = `{"name":{"first":"Ada","last":"Smith"},"address":{"postcode":"SW1A 1AA"}}`
	mustRun(t, "", "doc", "put", "--tenant", "acme", "clients", "c1", doc)
	out := mustRun(t, "", "doc", "get", "--tenant", "acme", "clients", "c1")

	var got quire.Document
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("doc get printed %q: %v", out, err)
	}
	var body bytes.Buffer
	if err := json.Compact(&body, got.Body); err != nil {
		t.Fatal(err)
	}
	if got.ID != "c1" || got.Version != 1 || body.String() != doc {
		t.Errorf("doc get = id %q version %d body %s; want c1, 1, %s", got.ID, got.Version, body.String(), doc)
	}
	if !strings.Contains(out, `"first": "Ada"`) {
		t.Errorf("doc get output is not indented JSON:\n%s", out)
	}

	// The key's secret works as a token and its role is enforced.
	t.Setenv("QUIRE_TOKEN", key.Secret)
	mustRun(t, "", "doc", "put", "--tenant", "acme", "clients", "c2", `{"name":{"last":"Turing"}}`)
	res := runCLI(t, "", "collection", "delete", "--tenant", "acme", "clients")
	if got, want := res.code, 1; got != want {
		t.Errorf("collection delete with a write key: exit %d, want %d", got, want)
	}
	if want := "quire collection: forbidden: "; !strings.Contains(res.stderr, want) {
		t.Errorf("stderr = %q, want it to contain %q", res.stderr, want)
	}
}

func TestEveryCommand(t *testing.T) {
	startServer(t)
	mustRun(t, "", "tenant", "create", "--name", "Acme Ltd", "acme", "--domain", "acme.example.com")
	if out := mustRun(t, "", "tenant", "get", "acme"); !strings.Contains(out, `"name": "Acme Ltd"`) {
		t.Errorf("tenant get = %s", out)
	}
	mustRun(t, "", "tenant", "create", "beta")
	if out := mustRun(t, "", "tenant", "list"); !strings.Contains(out, `"id": "acme"`) || !strings.Contains(out, `"id": "beta"`) {
		t.Errorf("tenant list = %s", out)
	}
	if out := mustRun(t, "", "tenant", "delete", "beta"); !strings.Contains(out, `"deleted": true`) {
		t.Errorf("tenant delete = %s", out)
	}
	res := runCLI(t, "", "tenant", "get", "beta")
	if got, want := res.code, 1; got != want {
		t.Errorf("tenant get of a deleted tenant: exit %d, want %d", got, want)
	}
	if got, want := res.stderr, "quire tenant: not_found: tenant \"beta\" not found\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}

	secret := strings.TrimSpace(mustRun(t, "", "key", "create", "--secret-only", "--tenant", "acme", "--role", "read", "--name", "ci"))
	if !strings.HasPrefix(secret, "quire_") || strings.ContainsAny(secret, " \n{") {
		t.Errorf("key create --secret-only printed %q", secret)
	}
	var keys struct {
		Keys []quire.Key `json:"keys"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "", "key", "list", "--tenant", "acme")), &keys); err != nil || len(keys.Keys) != 1 {
		t.Fatalf("key list = %+v, %v; want one key", keys, err)
	}
	mustRun(t, "", "key", "delete", "--tenant", "acme", keys.Keys[0].ID)
	if out := mustRun(t, "", "key", "list", "--tenant", "acme"); strings.Contains(out, keys.Keys[0].ID) {
		t.Errorf("key list after delete still shows the key: %s", out)
	}

	// Flags after the arguments, types and unique indexes.
	out := mustRun(t, "", "collection", "create", "people", "--index", "age=$.age:integer", "--index", "email=email", "--unique", "email", "--tenant", "acme")
	var coll quire.Collection
	if err := json.Unmarshal([]byte(out), &coll); err != nil {
		t.Fatalf("collection create printed %q: %v", out, err)
	}
	if ix, _ := coll.Index("age"); ix.Type != quire.IndexInteger {
		t.Errorf("age index = %+v, want integer", ix)
	}
	if ix, _ := coll.Index("email"); !ix.Unique || ix.Path != "$.email" {
		t.Errorf("email index = %+v, want unique on $.email", ix)
	}
	if res := runCLI(t, "", "collection", "create", "--tenant", "acme", "people"); res.code != 1 || !strings.Contains(res.stderr, "conflict") {
		t.Errorf("creating an existing collection: exit %d, stderr %q; want 1 and a conflict", res.code, res.stderr)
	}
	if out := mustRun(t, "", "collection", "add-index", "--tenant", "acme", "people", "city=$.address.city", "--unique"); !strings.Contains(out, `"field": "city"`) {
		t.Errorf("add-index = %s", out)
	}
	if out := mustRun(t, "", "collection", "drop-index", "people", "city", "--tenant", "acme"); strings.Contains(out, `"city"`) {
		t.Errorf("drop-index left the field: %s", out)
	}
	if out := mustRun(t, "", "collection", "list", "--tenant", "acme"); !strings.Contains(out, `"name": "people"`) {
		t.Errorf("collection list = %s", out)
	}
	mustRun(t, "", "collection", "get", "--tenant", "acme", "people")

	// Documents: from stdin ("-" and absent), ids with '/', conditions.
	mustRun(t, `{"age":36,"email":"ada@example.com"}`, "doc", "put", "--tenant", "acme", "people", "team/ada", "-")
	mustRun(t, `{"age":41,"email":"alan@example.com"}`, "doc", "put", "--tenant", "acme", "people", "team/alan")
	if res := runCLI(t, "", "doc", "put", "--tenant", "acme", "people", "team/ada", "{}", "--if-absent"); res.code != 1 || !strings.Contains(res.stderr, "version_mismatch") {
		t.Errorf("put --if-absent on an existing document: exit %d, stderr %q", res.code, res.stderr)
	}
	if out := mustRun(t, "", "doc", "patch", "--tenant", "acme", "people", "team/ada", `{"age":37}`, "--if-version", "1"); !strings.Contains(out, `"version": 2`) {
		t.Errorf("doc patch = %s", out)
	}
	out = mustRun(t, "", "doc", "list", "--tenant", "acme", "people", "--where", "age=37")
	if !strings.Contains(out, `"id": "team/ada"`) || strings.Contains(out, "team/alan") {
		t.Errorf("doc list --where age=37 = %s", out)
	}
	var page struct {
		Docs []quire.Document `json:"docs"`
		Next string           `json:"next"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "", "doc", "list", "--tenant", "acme", "people", "--limit", "1")), &page); err != nil || len(page.Docs) != 1 || page.Next == "" {
		t.Fatalf("doc list --limit 1 = %+v, %v", page, err)
	}
	if err := json.Unmarshal([]byte(mustRun(t, "", "doc", "list", "--tenant", "acme", "people", "--after", page.Next)), &page); err != nil || len(page.Docs) != 1 || page.Docs[0].ID != "team/alan" {
		t.Errorf("doc list --after = %+v, %v; want team/alan", page, err)
	}
	var created quire.WriteResult
	if err := json.Unmarshal([]byte(mustRun(t, "", "doc", "create", "--tenant", "acme", "people", `{"age":1}`)), &created); err != nil || created.ID == "" {
		t.Fatalf("doc create = %+v, %v", created, err)
	}
	mustRun(t, "", "doc", "get", "--tenant", "acme", "people", created.ID)
	mustRun(t, "", "doc", "delete", "--tenant", "acme", "people", "team/alan")
	if res := runCLI(t, "", "doc", "get", "--tenant", "acme", "people", "team/alan"); res.code != 1 ||
		res.stderr != "quire doc: not_found: document \"team/alan\" not found\n" {
		t.Errorf("doc get of a deleted document: exit %d, stderr %q", res.code, res.stderr)
	}
	if out := mustRun(t, "", "collection", "delete", "--tenant", "acme", "people"); !strings.Contains(out, `"deleted": true`) {
		t.Errorf("collection delete = %s", out)
	}
}

func TestUsageErrors(t *testing.T) {
	startServer(t)
	for _, args := range [][]string{
		{"doc"},
		{"doc", "frobnicate"},
		{"doc", "get", "--tenant", "acme", "clients"},
		{"doc", "get", "clients", "c1"},
		{"doc", "get", "--tenant", "acme", "clients", "c1", "extra"},
		{"doc", "put", "--tenant", "acme", "--bogus", "clients", "c1", "{}"},
		{"doc", "list", "--tenant", "acme", "clients", "--where", "novalue"},
		{"key", "create", "--tenant", "acme", "--role", "boss"},
		{"collection", "create", "--tenant", "acme", "c", "--index", "nopath"},
		{"collection", "create", "--tenant", "acme", "c", "--index", "a=$.a:date"},
		{"collection", "create", "--tenant", "acme", "c", "--unique", "a"},
		{"tenant", "create"},
	} {
		res := runCLI(t, "", args...)
		if got, want := res.code, 2; got != want {
			t.Errorf("quire %s: exit %d, want %d (stderr %q)", strings.Join(args, " "), got, want, res.stderr)
		}
		if res.stdout != "" {
			t.Errorf("quire %s printed %q on stdout", strings.Join(args, " "), res.stdout)
		}
	}
	t.Setenv("QUIRE_TOKEN", "")
	if res := runCLI(t, "", "tenant", "list"); res.code != 2 || !strings.Contains(res.stderr, "QUIRE_TOKEN") {
		t.Errorf("tenant list without a token: exit %d, stderr %q; want 2 naming QUIRE_TOKEN", res.code, res.stderr)
	}
	res := runCLI(t, "", "collection", "create", "--help")
	if got, want := res.code, 0; got != want {
		t.Errorf("collection create --help: exit %d, want %d", got, want)
	}
	if !strings.Contains(res.stderr, "age='$.age:integer'") || !strings.Contains(res.stderr, "-unique FIELD") {
		t.Errorf("collection create --help does not explain the index syntax:\n%s", res.stderr)
	}
}

func TestParseIndexArg(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want quire.IndexSpec
	}{
		{"age=$.age:integer", quire.IndexSpec{Field: "age", Path: "$.age", Type: quire.IndexInteger}},
		{"last=$.name.last", quire.IndexSpec{Field: "last", Path: "$.name.last"}},
		{"tag=$.tags[0]:text", quire.IndexSpec{Field: "tag", Path: "$.tags[0]", Type: quire.IndexText}},
		{"score=score:real", quire.IndexSpec{Field: "score", Path: "score", Type: quire.IndexReal}},
	} {
		got, err := parseIndexArg(tc.arg)
		if err != nil {
			t.Errorf("parseIndexArg(%q): %v", tc.arg, err)
			continue
		}
		if got != tc.want {
			t.Errorf("parseIndexArg(%q) = %+v, want %+v", tc.arg, got, tc.want)
		}
	}
	for _, arg := range []string{"age", "=$.a", "a=", "a=$.a:bool"} {
		if _, err := parseIndexArg(arg); err == nil {
			t.Errorf("parseIndexArg(%q) succeeded, want a usage error", arg)
		}
	}
}

func TestParseInterleaved(t *testing.T) {
	cmd := newClientCommand("doc get", "--tenant T COLL ID", "", true)
	pos, err := cmd.parse([]string{"clients", "--tenant", "acme", "--", "-id", "--tenant"}, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(pos, " "), "clients -id --tenant"; got != want {
		t.Errorf("arguments = %q, want %q", got, want)
	}
	if got, want := cmd.tenant, "acme"; got != want {
		t.Errorf("--tenant = %q, want %q", got, want)
	}
}

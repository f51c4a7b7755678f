package client_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
	"github.com/quiredb/quire/registry"
	"github.com/quiredb/quire/server"
)

const adminToken = "test-admin-token"

// quireServer is a real Quire server (registry over SQLite in a temporary
// directory, the HTTP API) on 127.0.0.1. It notes the bookmark header of
// every request it receives and counts the connections opened to it.
type quireServer struct {
	url string

	mu        sync.Mutex
	bookmarks []string // Quire-Bookmark of each request, in arrival order
	conns     int
}

func startServer(t *testing.T) *quireServer {
	t.Helper()
	reg, err := registry.New(registry.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	api := server.New(server.Config{AdminToken: adminToken}, reg, reg)
	qs := &quireServer{}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		qs.mu.Lock()
		qs.bookmarks = append(qs.bookmarks, r.Header.Get(client.BookmarkHeader))
		qs.mu.Unlock()
		api.ServeHTTP(w, r)
	}))
	hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			qs.mu.Lock()
			qs.conns++
			qs.mu.Unlock()
		}
	}
	hs.Start()
	qs.url = hs.URL
	t.Cleanup(func() {
		hs.Close()
		if err := reg.Close(); err != nil {
			t.Errorf("registry.Close: %v", err)
		}
	})
	return qs
}

// lastBookmarkReceived returns the bookmark header of the latest request.
func (qs *quireServer) lastBookmarkReceived() string {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	return qs.bookmarks[len(qs.bookmarks)-1]
}

func (qs *quireServer) requests() int {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	return len(qs.bookmarks)
}

func (qs *quireServer) connections() int {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	return qs.conns
}

// setup starts a server and returns an admin client with tenant "acme"
// and its collection "clients" (last_name text, age integer, email unique).
func setup(t *testing.T) (*quireServer, *client.Client) {
	t.Helper()
	qs := startServer(t)
	c := client.New(qs.url+"/", adminToken)
	ctx := context.Background()
	if _, err := c.CreateTenant(ctx, quire.TenantCreate{ID: "acme"}); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	_, err := c.PutCollection(ctx, "acme", quire.Collection{Name: "clients", Indexes: []quire.IndexSpec{
		{Field: "last_name", Path: "$.name.last"},
		{Field: "age", Path: "$.age", Type: quire.IndexInteger},
		{Field: "email", Path: "$.email", Unique: true},
	}})
	if err != nil {
		t.Fatalf("PutCollection: %v", err)
	}
	return qs, c
}

// wantCode fails the test unless err is a *quire.Error with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := quire.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (err %v), want %q", got, err, code)
	}
}

func TestTenantsAndKeys(t *testing.T) {
	qs := startServer(t)
	ctx := context.Background()
	admin := client.New(qs.url, adminToken)

	tn, err := admin.CreateTenant(ctx, quire.TenantCreate{ID: "acme", Name: "Acme Ltd", Region: "uk", Domains: []string{"acme.example.com"}})
	if err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	if got, want := tn.Region, "uk"; got != want {
		t.Errorf("Region = %q, want %q", got, want)
	}
	if got, want := strings.Join(tn.Domains, ","), "acme.example.com"; got != want {
		t.Errorf("Domains = %q, want %q", got, want)
	}
	_, err = admin.CreateTenant(ctx, quire.TenantCreate{ID: "acme"})
	wantCode(t, err, quire.EConflict)
	if _, err := admin.CreateTenant(ctx, quire.TenantCreate{ID: "beta"}); err != nil {
		t.Fatalf("CreateTenant beta: %v", err)
	}

	got, err := admin.Tenant(ctx, "acme")
	if err != nil {
		t.Fatalf("Tenant: %v", err)
	}
	if got.Name != "Acme Ltd" || got.ID != "acme" {
		t.Errorf("Tenant = %+v, want acme / Acme Ltd", got)
	}
	ts, err := admin.Tenants(ctx)
	if err != nil {
		t.Fatalf("Tenants: %v", err)
	}
	var ids []string
	for _, t := range ts {
		ids = append(ids, t.ID)
	}
	if got, want := strings.Join(ids, ","), "acme,beta"; got != want {
		t.Errorf("Tenants = %s, want %s", got, want)
	}

	key, secret, err := admin.CreateKey(ctx, "acme", quire.RoleRead, "dashboard")
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if key.Role != quire.RoleRead || key.Name != "dashboard" || key.Tenant != "acme" || key.ID == "" {
		t.Errorf("CreateKey = %+v", key)
	}
	if !strings.HasPrefix(secret, "quire_") {
		t.Errorf("secret = %q, want a quire_ secret", secret)
	}
	reader := client.New(qs.url, secret)
	if _, err := reader.Tenant(ctx, "acme"); err != nil {
		t.Errorf("the new key cannot read its tenant: %v", err)
	}
	_, err = reader.Tenant(ctx, "beta")
	wantCode(t, err, quire.EForbidden)
	_, _, err = reader.CreateKey(ctx, "acme", quire.RoleAdmin, "")
	wantCode(t, err, quire.EForbidden)

	keys, err := admin.Keys(ctx, "acme")
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	if got, want := len(keys), 1; got != want || keys[0].ID != key.ID {
		t.Fatalf("Keys = %d keys, want %d (%s)", got, want, key.ID)
	}
	if err := admin.DeleteKey(ctx, "acme", key.ID); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	_, err = reader.Tenant(ctx, "acme")
	wantCode(t, err, quire.EUnauthorized)
	wantCode(t, admin.DeleteKey(ctx, "acme", key.ID), quire.ENotFound)

	if err := admin.DeleteTenant(ctx, "beta"); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	_, err = admin.Tenant(ctx, "beta")
	wantCode(t, err, quire.ENotFound)
}

func TestCollections(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()

	coll, err := c.Collection(ctx, "acme", "clients")
	if err != nil {
		t.Fatalf("Collection: %v", err)
	}
	if got, want := len(coll.Indexes), 3; got != want {
		t.Fatalf("indexes = %d, want %d", got, want)
	}
	if ix, _ := coll.Index("email"); !ix.Unique || ix.Type != quire.IndexText {
		t.Errorf("email index = %+v, want unique text", ix)
	}
	if ix, _ := coll.Index("age"); ix.Type != quire.IndexInteger {
		t.Errorf("age index = %+v, want integer", ix)
	}

	coll, err = c.AddIndex(ctx, "acme", "clients", quire.IndexSpec{Field: "postcode", Path: "address.postcode"})
	if err != nil {
		t.Fatalf("AddIndex: %v", err)
	}
	if ix, ok := coll.Index("postcode"); !ok || ix.Path != "$.address.postcode" {
		t.Errorf("postcode index = %+v, %v; want path $.address.postcode", ix, ok)
	}
	_, err = c.AddIndex(ctx, "acme", "clients", quire.IndexSpec{Field: "postcode", Path: "$.zip"})
	wantCode(t, err, quire.EConflict)

	coll, err = c.DropIndex(ctx, "acme", "clients", "age")
	if err != nil {
		t.Fatalf("DropIndex: %v", err)
	}
	if _, ok := coll.Index("age"); ok {
		t.Errorf("age index still there after DropIndex")
	}

	if _, err := c.PutCollection(ctx, "acme", quire.Collection{Name: "notes"}); err != nil {
		t.Fatalf("PutCollection notes: %v", err)
	}
	cs, err := c.Collections(ctx, "acme")
	if err != nil {
		t.Fatalf("Collections: %v", err)
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	if got, want := strings.Join(names, ","), "clients,notes"; got != want {
		t.Errorf("Collections = %s, want %s", got, want)
	}

	if err := c.DeleteCollection(ctx, "acme", "notes"); err != nil {
		t.Fatalf("DeleteCollection: %v", err)
	}
	_, err = c.Collection(ctx, "acme", "notes")
	wantCode(t, err, quire.ENotFound)
	_, err = c.PutCollection(ctx, "acme", quire.Collection{Name: "Bad-Name"})
	wantCode(t, err, quire.EInvalidName)
}

func TestDocuments(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()

	res, err := c.Put(ctx, "acme", "clients", "c1", json.RawMessage(`{"name":{"first":"Ada","last":"Smith"},"age":36}`), client.Condition{})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if !res.Created || res.Version != 1 || res.ID != "c1" {
		t.Errorf("Put = %+v, want created version 1", res)
	}
	d, err := c.Get(ctx, "acme", "clients", "c1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got, want := string(d.Body), `{"name":{"first":"Ada","last":"Smith"},"age":36}`; got != want {
		t.Errorf("Body = %s, want %s", got, want)
	}

	res, err = c.Put(ctx, "acme", "clients", "c1", json.RawMessage(`{"name":{"first":"Ada","last":"Lovelace"},"age":36}`), client.Condition{IfVersion: 1})
	if err != nil {
		t.Fatalf("Put IfVersion 1: %v", err)
	}
	if res.Created || res.Version != 2 {
		t.Errorf("replacing Put = %+v, want version 2 not created", res)
	}
	res, err = c.Patch(ctx, "acme", "clients", "c1", json.RawMessage(`{"age":37,"email":"ada@example.com"}`), client.Condition{IfExists: true})
	if err != nil {
		t.Fatalf("Patch: %v", err)
	}
	if got, want := res.Version, int64(3); got != want {
		t.Errorf("Patch version = %d, want %d", got, want)
	}
	if d, err = c.Get(ctx, "acme", "clients", "c1"); err != nil {
		t.Fatalf("Get after Patch: %v", err)
	}
	if got, want := string(d.Body), `{"name":{"first":"Ada","last":"Lovelace"},"age":37,"email":"ada@example.com"}`; got != want {
		t.Errorf("patched Body = %s, want %s", got, want)
	}

	created, err := c.Create(ctx, "acme", "clients", json.RawMessage(`{"name":{"last":"Turing"},"age":41}`))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if len(created.ID) != 36 || !created.Created {
		t.Errorf("Create = %+v, want a created document with a UUID", created)
	}
	if d, err = c.Get(ctx, "acme", "clients", created.ID); err != nil || d.Version != 1 {
		t.Fatalf("Get created = %+v, %v", d, err)
	}

	docs, next, err := c.List(ctx, "acme", quire.ListQuery{Collection: "clients", Field: "age", Value: "41"})
	if err != nil {
		t.Fatalf("List where age=41: %v", err)
	}
	if len(docs) != 1 || docs[0].ID != created.ID || next != "" {
		t.Errorf("List where age=41 = %d docs, next %q; want %s only", len(docs), next, created.ID)
	}
	docs, next, err = c.List(ctx, "acme", quire.ListQuery{Collection: "clients", Limit: 1})
	if err != nil {
		t.Fatalf("List page 1: %v", err)
	}
	if len(docs) != 1 || next == "" {
		t.Fatalf("List page 1 = %d docs, next %q; want 1 doc and a cursor", len(docs), next)
	}
	page2, _, err := c.List(ctx, "acme", quire.ListQuery{Collection: "clients", Limit: 10, After: next})
	if err != nil {
		t.Fatalf("List page 2: %v", err)
	}
	if len(page2) != 1 || page2[0].ID == docs[0].ID {
		t.Errorf("List page 2 = %d docs, want the other document", len(page2))
	}
	_, _, err = c.List(ctx, "acme", quire.ListQuery{Collection: "clients", Field: "limit", Value: "x"})
	wantCode(t, err, quire.EInvalid)

	res, err = c.Delete(ctx, "acme", "clients", "c1", client.Condition{IfVersion: 3})
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got, want := res.Version, int64(3); got != want {
		t.Errorf("Delete version = %d, want %d", got, want)
	}
	_, err = c.Get(ctx, "acme", "clients", "c1")
	wantCode(t, err, quire.ENotFound)
}

func TestBatch(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()
	if _, err := c.Put(ctx, "acme", "clients", "old", json.RawMessage(`{}`), client.Condition{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	v := int64(1)
	results, bookmark, err := c.Batch(ctx, "acme", []quire.WriteOp{
		{Op: quire.OpPut, Collection: "clients", ID: "b1", Body: json.RawMessage(`{"age":1}`)},
		{Op: quire.OpCreate, Collection: "clients", Body: json.RawMessage(`{"age":2}`)},
		{Op: quire.OpPatch, Collection: "clients", ID: "b1", Body: json.RawMessage(`{"age":3}`)},
		{Op: quire.OpDelete, Collection: "clients", ID: "old", IfVersion: &v},
	})
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if got, want := len(results), 4; got != want {
		t.Fatalf("results = %d, want %d", got, want)
	}
	if results[1].ID == "" || results[2].Version != 2 || results[3].Op != quire.OpDelete {
		t.Errorf("results = %+v", results)
	}
	if bookmark == "" {
		t.Fatal("Batch returned no bookmark")
	}
	if got, want := c.LastBookmark(), bookmark; got != want {
		t.Errorf("LastBookmark = %q, want the batch's %q", got, want)
	}
	d, err := c.Get(ctx, "acme", "clients", "b1")
	if err != nil {
		t.Fatalf("Get b1: %v", err)
	}
	if got, want := string(d.Body), `{"age":3}`; got != want {
		t.Errorf("b1 = %s, want %s", got, want)
	}
}

func TestDocumentIDsRoundTrip(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()
	ids := []string{"a/b", "/lead", "trail/", "with space", "ünïcødé 日本語 🚀", ".", "..", "%2F", "?q=1#frag", "a+b&c=d", `quo"te\`}
	for i, id := range ids {
		body := json.RawMessage(`{"n":` + string(rune('0'+i%10)) + `}`)
		res, err := c.Put(ctx, "acme", "clients", id, body, client.Condition{IfAbsent: true})
		if err != nil {
			t.Fatalf("Put %q: %v", id, err)
		}
		if got, want := res.ID, id; got != want {
			t.Errorf("Put result id = %q, want %q", got, want)
		}
		d, err := c.Get(ctx, "acme", "clients", id)
		if err != nil {
			t.Fatalf("Get %q: %v", id, err)
		}
		if got, want := d.ID, id; got != want {
			t.Errorf("Get id = %q, want %q", got, want)
		}
		if got, want := string(d.Body), string(body); got != want {
			t.Errorf("Get %q body = %s, want %s", id, got, want)
		}
	}
	docs, _, err := c.List(ctx, "acme", quire.ListQuery{Collection: "clients", Limit: 100})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if got, want := len(docs), len(ids); got != want {
		t.Errorf("List = %d documents, want %d", got, want)
	}
	for _, id := range ids {
		if _, err := c.Delete(ctx, "acme", "clients", id, client.Condition{IfExists: true}); err != nil {
			t.Errorf("Delete %q: %v", id, err)
		}
	}
}

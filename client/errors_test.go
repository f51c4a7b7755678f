package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

func TestErrors(t *testing.T) {
	qs, c := setup(t)
	ctx := context.Background()
	body := json.RawMessage(`{"email":"a@example.com"}`)
	if _, err := c.Put(ctx, "acme", "clients", "c1", body, client.Condition{}); err != nil {
		t.Fatalf("Put: %v", err)
	}

	_, err := c.Get(ctx, "acme", "clients", "missing")
	wantCode(t, err, quire.ENotFound)
	if got, want := err.Error(), `not_found: document "missing" not found`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}

	if _, err := c.Put(ctx, "acme", "clients", "c1", body, client.Condition{IfVersion: 1}); err != nil {
		t.Fatalf("Put IfVersion 1: %v", err)
	}
	_, err = c.Put(ctx, "acme", "clients", "c1", body, client.Condition{IfVersion: 1})
	wantCode(t, err, quire.EVersionMismatch)
	_, err = c.Patch(ctx, "acme", "clients", "c1", json.RawMessage(`{}`), client.Condition{IfVersion: 1})
	wantCode(t, err, quire.EVersionMismatch)
	_, err = c.Put(ctx, "acme", "clients", "c1", body, client.Condition{IfAbsent: true})
	wantCode(t, err, quire.EVersionMismatch)
	_, err = c.Put(ctx, "acme", "clients", "c2", json.RawMessage(`{}`), client.Condition{IfExists: true})
	wantCode(t, err, quire.EVersionMismatch)

	_, err = c.Put(ctx, "acme", "clients", "c2", body, client.Condition{})
	wantCode(t, err, quire.EUniqueViolation)
	_, _, err = c.Batch(ctx, "acme", []quire.WriteOp{
		{Op: quire.OpPut, Collection: "clients", ID: "c3", Body: json.RawMessage(`{}`)},
		{Op: quire.OpCreate, Collection: "clients", ID: "c1", Body: json.RawMessage(`{}`)},
	})
	wantCode(t, err, quire.EConflict)
	var qe *quire.Error
	if !errors.As(err, &qe) || qe.Details["op_index"] != float64(1) {
		t.Errorf("batch error details = %v, want op_index 1", qe)
	}
	if _, err := c.Get(ctx, "acme", "clients", "c3"); quire.ErrorCode(err) != quire.ENotFound {
		t.Errorf("the failed batch's first op was applied (err %v)", err)
	}

	_, err = c.Put(ctx, "acme", "clients", "c4", json.RawMessage(`[1]`), client.Condition{})
	wantCode(t, err, quire.EInvalidDocument)
	_, err = client.New(qs.url, "wrong").Get(ctx, "acme", "clients", "c1")
	wantCode(t, err, quire.EUnauthorized)

	// Mistakes caught before anything is sent.
	before := qs.requests()
	_, err = c.Get(ctx, "acme", "clients", "")
	wantCode(t, err, quire.EInvalid)
	_, err = c.Put(ctx, "acme", "clients", "c1", body, client.Condition{IfVersion: 2, IfExists: true})
	wantCode(t, err, quire.EInvalid)
	if got, want := qs.requests(), before; got != want {
		t.Errorf("requests sent for invalid calls = %d, want 0", got-want)
	}

	// Batch ops carry the same conditions as single writes.
	_, _, err = c.Batch(ctx, "acme", []quire.WriteOp{{Op: quire.OpPut, Collection: "clients", ID: "c1", Body: body, IfAbsent: true}})
	wantCode(t, err, quire.EVersionMismatch)
	_, _, err = c.Batch(ctx, "acme", []quire.WriteOp{{Op: quire.OpPut, Collection: "clients", ID: "nope", Body: body, IfExists: true}})
	wantCode(t, err, quire.EVersionMismatch)
}

func TestErrorWithoutAPIBody(t *testing.T) {
	// A proxy in front of the server answers in its own words.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/gone") {
			http.Error(w, "no such thing", http.StatusNotFound)
			return
		}
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer proxy.Close()
	c := client.New(proxy.URL, adminToken)
	_, err := c.Get(context.Background(), "acme", "clients", "gone")
	wantCode(t, err, quire.ENotFound)
	if !strings.Contains(err.Error(), "no such thing") {
		t.Errorf("error %q does not carry the response text", err)
	}
	_, err = c.Tenants(context.Background())
	wantCode(t, err, quire.EUnavailable)
}

package client_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

func TestHistoryPurgeUsage(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()
	if _, err := c.PutCollection(ctx, "acme", quire.Collection{Name: "notes", History: true}); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{`{"v":1}`, `{"v":2}`, `{"v":3}`} {
		if _, err := c.Put(ctx, "acme", "notes", "n1", json.RawMessage(body), client.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.History(ctx, "acme", "notes", "n1", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Versions) != 1 || page.Versions[0].Version != 2 || string(page.Versions[0].Body) != `{"v":2}` || page.Next == "" {
		t.Fatalf("first history page = %+v", page)
	}
	page, err = c.History(ctx, "acme", "notes", "n1", 10, page.Next)
	if err != nil || len(page.Versions) != 1 || page.Versions[0].Version != 1 {
		t.Fatalf("second history page = %+v, %v", page, err)
	}
	d, err := c.GetVersion(ctx, "acme", "notes", "n1", 1)
	if err != nil || string(d.Body) != `{"v":1}` {
		t.Fatalf("GetVersion(1) = %+v, %v", d, err)
	}
	_, err = c.GetVersion(ctx, "acme", "notes", "n1", 9)
	wantCode(t, err, quire.ENotFound)

	u, err := c.Usage(ctx, "acme")
	if err != nil || u.Documents["notes"] != 1 || u.Collections != 2 || u.StorageBytes <= 0 || u.Quotas == nil {
		t.Fatalf("Usage = %+v, %v", u, err)
	}

	if err := c.Purge(ctx, "acme", "notes", "n1"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(ctx, "acme", "notes", "n1")
	wantCode(t, err, quire.ENotFound)
	_, err = c.GetVersion(ctx, "acme", "notes", "n1", 1)
	wantCode(t, err, quire.ENotFound)
	wantCode(t, c.Purge(ctx, "acme", "notes", ""), quire.EInvalid)
}

package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"slices"
	"strings"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/sqlite"
)

// secretPrefix starts every key secret, so leaked secrets are easy to
// recognise (and to scan for).
const secretPrefix = "quire_"

// CreateKey makes a key for tenant and returns it with its secret, which is
// stored only as a SHA-256 hash. Secrets carry 256 random bits, so a fast
// hash is enough: there is nothing to brute-force.
func (r *Registry) CreateKey(ctx context.Context, tenant string, role quire.Role, name string) (*quire.Key, string, error) {
	if !role.Valid() {
		return nil, "", quire.Errorf(quire.EInvalid, "role must be read, write or admin")
	}
	if len(name) > 200 {
		return nil, "", quire.Errorf(quire.EInvalid, "name may be at most 200 bytes")
	}
	var raw [32]byte
	rand.Read(raw[:])
	k := &sqlite.CatalogKey{Key: quire.Key{
		ID: "k" + randomHex(8), Tenant: tenant, Role: role, Name: name,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
	}}
	secret := secretPrefix + k.ID + "_" + base64.RawURLEncoding.EncodeToString(raw[:])
	h := sha256.Sum256([]byte(secret))
	k.Hash = h[:]
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tenants[tenant]; !ok {
		return nil, "", tenantNotFound(tenant)
	}
	if err := r.catalog.CreateKey(ctx, k); err != nil {
		return nil, "", err
	}
	r.keys[k.ID] = k
	pub := k.Key
	return &pub, secret, nil
}

// Keys lists a tenant's keys (never their secrets).
func (r *Registry) Keys(ctx context.Context, tenant string) ([]*quire.Key, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tenants[tenant]; !ok {
		return nil, tenantNotFound(tenant)
	}
	out := []*quire.Key{}
	for _, k := range r.keys {
		if k.Tenant == tenant {
			pub := k.Key
			out = append(out, &pub)
		}
	}
	slices.SortFunc(out, func(a, b *quire.Key) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// DeleteKey revokes a key; requests using it fail from then on.
func (r *Registry) DeleteKey(ctx context.Context, tenant, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.keys[id]
	if !ok || k.Tenant != tenant {
		return quire.Errorf(quire.ENotFound, "key not found")
	}
	if err := r.catalog.DeleteKey(ctx, id); err != nil {
		return err
	}
	delete(r.keys, id)
	return nil
}

// Authenticate finds the key a secret belongs to. The key id inside the
// secret selects the candidate; the hash comparison is constant-time.
func (r *Registry) Authenticate(secret string) (*quire.Key, error) {
	denied := quire.Errorf(quire.EUnauthorized, "invalid API key")
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, denied
	}
	id, _, ok := strings.Cut(rest, "_")
	if !ok {
		return nil, denied
	}
	h := sha256.Sum256([]byte(secret))
	r.mu.Lock()
	k, ok := r.keys[id]
	r.mu.Unlock()
	if !ok || subtle.ConstantTimeCompare(h[:], k.Hash) != 1 {
		return nil, denied
	}
	pub := k.Key
	return &pub, nil
}

package server

import (
	"net/http"
	"strings"

	"github.com/quiredb/quire"
)

// headerCache tells how a read used the read cache: hit, miss or bypass.
const headerCache = "Quire-Cache"

// setCacheStatus sets the Quire-Cache header of a read's response.
func setCacheStatus(w http.ResponseWriter, st quire.CacheStatus) {
	if st != "" {
		w.Header().Set(headerCache, string(st))
	}
}

// noCache reports whether the client asked to skip the read cache
// (Cache-Control: no-cache, or no-store).
func noCache(r *http.Request) bool {
	cc := strings.ToLower(r.Header.Get("Cache-Control"))
	return strings.Contains(cc, "no-cache") || strings.Contains(cc, "no-store")
}

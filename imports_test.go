package quire_test

import (
	"go/build"
	"strings"
	"testing"
)

// TestDomainImportsOnlyStandardLibrary guards the package layout: the
// domain package knows nothing of SQLite, HTTP frameworks or other
// dependencies, so every implementation depends on it and not the reverse.
func TestDomainImportsOnlyStandardLibrary(t *testing.T) {
	pkg, err := build.Default.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
			t.Errorf("package quire imports %q; the domain may import only the standard library", imp)
		}
	}
}

// TestServerDoesNotImportStore guards the dependency direction: the HTTP
// layer is written against the domain interfaces, not the SQLite store.
func TestServerDoesNotImportStore(t *testing.T) {
	pkg, err := build.Default.ImportDir("server", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		switch imp {
		case "github.com/quiredb/quire/sqlite", "github.com/quiredb/quire/registry",
			"github.com/quiredb/quire/cache", "github.com/quiredb/quire/actor":
			t.Errorf("package server imports %q; it must depend only on package quire's interfaces", imp)
		}
	}
}

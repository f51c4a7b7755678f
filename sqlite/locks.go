package sqlite

import "github.com/quiredb/quire"

// checkFences refuses the write if a newer token than a fence's was issued
// for its lock. It runs on the writer, inside the write's savepoint.
func (t *txn) checkFences(fs []quire.Fence) error {
	return nil // TODO(locks): implemented with the lock table
}

package registry

import (
	"fmt"
	"slices"

	"github.com/quiredb/quire"
)

// AnyRegion in Config.AllowRegions lets a node hold tenants of every region.
const AnyRegion = "*"

// checkRegions validates the node's region and the regions it may hold.
// With no AllowRegions, a node whose region was named holds that region
// only; a node left in the default region "local" (development, the quick
// start) holds any region.
func (c *Config) checkRegions() error {
	if c.Region == "" {
		c.Region = "local"
	}
	if !regionRE.MatchString(c.Region) {
		return fmt.Errorf("region %q: use lower-case letters, digits and -", c.Region)
	}
	if len(c.AllowRegions) == 0 {
		c.AllowRegions = []string{c.Region}
		if c.Region == "local" {
			c.AllowRegions = []string{AnyRegion}
		}
	}
	for _, r := range c.AllowRegions {
		if r != AnyRegion && !regionRE.MatchString(r) {
			return fmt.Errorf("allowed region %q: use lower-case letters, digits and -", r)
		}
	}
	return nil
}

// AllowedRegions returns the regions whose tenants this node may hold.
func (r *Registry) AllowedRegions() []string { return slices.Clone(r.cfg.AllowRegions) }

// checkResidency refuses a tenant whose region this node may not hold.
func (r *Registry) checkResidency(t *quire.Tenant) error {
	if slices.Contains(r.cfg.AllowRegions, t.Region) || slices.Contains(r.cfg.AllowRegions, AnyRegion) {
		return nil
	}
	return quire.Errorf(quire.ERegionNotAllowed, "tenant %q is in region %q; this node (region %q) may hold only %v",
		t.ID, t.Region, r.cfg.Region, r.cfg.AllowRegions)
}

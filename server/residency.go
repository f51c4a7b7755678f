package server

import "os"

// headerServedBy names the node and region that served a tenant request.
const headerServedBy = "Quire-Served-By"

// setServedBy fills the node name (the host name) and region ("local")
// when unset.
func (c *Config) setServedBy() {
	if c.Node == "" {
		c.Node, _ = os.Hostname()
		if c.Node == "" {
			c.Node = "quire"
		}
	}
	if c.Region == "" {
		c.Region = "local"
	}
}

// servedBy is the value of the Quire-Served-By header: "<node>;region=<r>",
// r being this node's region.
func (c *Config) servedBy() string { return c.Node + ";region=" + c.Region }

package catalog

// Queries reports how many lookups went upstream.
func (c *Catalog) Queries() int64 { return c.queries.Load() }

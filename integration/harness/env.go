package harness

import (
	"net"
	"strings"
)

func splitHostPort(addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		panic(err)
	}
	return h, p
}

// libpqEnv turns a simple key=value DSN (no quoting, as this package builds
// them) into libpq environment variables.
func libpqEnv(dsn string) []string {
	names := map[string]string{
		"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD",
		"dbname": "PGDATABASE", "sslmode": "PGSSLMODE",
	}
	env := []string{"PGAPPNAME=", "PGOPTIONS=", "PGCONNECT_TIMEOUT=10"}
	for _, kv := range strings.Fields(dsn) {
		k, v, _ := strings.Cut(kv, "=")
		if n, ok := names[k]; ok {
			env = append(env, n+"="+v)
		}
	}
	return env
}

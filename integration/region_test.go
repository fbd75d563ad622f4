package integration

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/integration/harness"
	"github.com/pgveil/pgveil/rules"
)

// TestRegionFromNetworks: without a listener region, the client address
// decides the region through [networks]; an address in no network is
// region "unknown", which no policy matches: every classified column is
// redacted, and the rest stays readable.
func TestRegionFromNetworks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cases := []struct {
		desc     string
		networks map[string][]string
		check    func(t *testing.T, mobile *string, city string)
	}{
		{"loopback is in CN: clear", map[string][]string{"CN": {"127.0.0.0/8"}},
			func(t *testing.T, mobile *string, city string) {
				if mobile == nil || *mobile != "13812345678" {
					t.Errorf("mobile %v, want the clear value", mobile)
				}
			}},
		{"loopback is in EU: overseas policy", map[string][]string{"EU": {"127.0.0.0/8", "::1/128"}},
			func(t *testing.T, mobile *string, city string) {
				if mobile == nil || *mobile != "138****5678" {
					t.Errorf("mobile %v, want 138****5678", mobile)
				}
			}},
		{"loopback is in no network: unknown, redacted", map[string][]string{"US": {"10.30.0.0/16"}},
			func(t *testing.T, mobile *string, city string) {
				if mobile != nil {
					t.Errorf("mobile %q, want NULL for region unknown", *mobile)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			p := harness.StartProxy(t, &harness.Options{Mutate: func(cfg *rules.Config) {
				for i := range cfg.Listen {
					cfg.Listen[i].Region = "" // the network decides
				}
				cfg.Networks = c.networks
			}})
			// anna.keller is an analyst: CN gives clear (china-staff
			// matches any role), EU the overseas policy, unknown nothing.
			conn, err := pgx.Connect(ctx, p.DSN(harness.Overseas))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var mobile *string
			var city string
			if err := conn.QueryRow(ctx, "SELECT ship_phone, city FROM crm.orders WHERE id = 1").Scan(&mobile, &city); err != nil {
				t.Fatal(err)
			}
			if city == "" {
				t.Error("clear column city empty")
			}
			c.check(t, mobile, city)
		})
	}
}

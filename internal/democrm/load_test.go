package democrm

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgveil/pgveil/internal/pgserver"
)

// startCRM starts a throwaway server with the crm database created and the
// roles set up, or skips when PostgreSQL is not installed.
func startCRM(t *testing.T, ctx context.Context) (*pgserver.Server, *pgconn.PgConn) {
	t.Helper()
	srv, err := pgserver.Start(ctx, pgserver.Options{Logf: t.Logf})
	if errors.Is(err, pgserver.ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	if err := srv.Exec(ctx, "postgres", CreateDatabaseSQL); err != nil {
		t.Fatal(err)
	}
	conn, err := srv.Connect(ctx, Database)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return srv, conn
}

func queryValue(t *testing.T, ctx context.Context, conn *pgconn.PgConn, sql string) string {
	t.Helper()
	res, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 1 {
		t.Fatalf("%s: want one value, got %v", sql, res)
	}
	return string(res[0].Rows[0][0])
}

func TestLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, conn := startCRM(t, ctx)

	// Roles first, load second: the default privileges must cover the
	// tables Load creates.
	if _, err := conn.Exec(ctx, SetupSQL("reader-pw", "catalog-pw")).ReadAll(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := Load(ctx, conn, 1000, 5000, 1); err != nil {
		t.Fatal(err)
	}
	t.Logf("Load(1000, 5000) took %s", time.Since(start))

	d := Generate(1, 1000, 5000)
	for sql, want := range map[string]string{
		"select count(*) from crm.customers":                                             "1000",
		"select count(*) from crm.orders":                                                "5000",
		"select count(*) from crm.staff_notes":                                           strconv.Itoa(d.NumNotes),
		"select count(*) from crm.customer_contacts":                                     "1000",
		"select count(*) from crm.orders o join crm.customers c on c.id = o.customer_id": "5000",
		// The seed rows, value by value.
		"select name from crm.customers where mobile = '" + SeedMobile + "'":                         SeedName,
		"select id from crm.customers where id_number = '" + SeedIDNumber + "'":                      "1",
		"select email from crm.customers where wechat_openid = '" + SeedOpenID + "'":                 SeedEmail,
		"select address from crm.customers where qq_number = '" + SeedQQ + "'":                       SeedAddress,
		"select count(*) from crm.customers where name like '" + SeedName + "%'":                     "1",
		"select count(*) from crm.orders where ship_phone = '" + SeedMobile + "'":                    "1",
		"select note from crm.staff_notes where id = 1":                                              SeedNote,
		"select mobile from crm.customer_contacts where id = 1":                                      SeedMobile,
		"select amount::text from crm.orders where id = 1":                                           "8888.88",
		"select birthday::text || gender from crm.customers where id = 1":                            "1988-05-20男",
		"select created_at::text from crm.customers where id = 1":                                    "2019-03-15 02:20:30+00",
		"select count(*) > 0 from crm.customers where email is null":                                 "t",
		"select nextval('crm.staff_notes_id_seq') = (select max(id) + 1 from crm.staff_notes)":       "t",
		"select count(*) from pg_indexes where schemaname = 'crm' and indexdef like '%customer_id%'": "1",
		"select reltuples > 0 from pg_class where oid = 'crm.orders'::regclass":                      "t", // analyzed
	} {
		got := queryValue(t, ctx, conn, sql)
		if want != "" && got != want {
			t.Errorf("%s = %q, want %q", sql, got, want)
		}
	}

	// A generated row reads back exactly as generated.
	c := d.Customer(17)
	got := queryValue(t, ctx, conn, "select concat_ws('|', name, name_pinyin, mobile, id_number, address) from crm.customers where id = 17")
	if want := c.Name + "|" + c.NamePinyin + "|" + c.Mobile + "|" + c.IDNumber + "|" + c.Address; got != want {
		t.Errorf("customer 17 = %q, want %q", got, want)
	}

	// The roles work: crm_reader reads data, pgveil_catalog reads the catalog.
	for _, login := range []struct{ user, password, sql, want string }{
		{ReaderRole, "reader-pw", "select mobile from crm.customers where id = 1", SeedMobile},
		{ReaderRole, "reader-pw", "select count(*) from crm.customer_contacts", "1000"},
		{CatalogRole, "catalog-pw", "select count(*) from information_schema.columns where table_schema = 'crm' and table_name = 'customers'", "16"},
	} {
		lc, err := pgconn.Connect(ctx, srv.DSN(login.user, login.password, Database))
		if err != nil {
			t.Fatalf("%s: %v", login.user, err)
		}
		if got := queryValue(t, ctx, lc, login.sql); got != login.want {
			t.Errorf("%s: %s = %q, want %q", login.user, login.sql, got, login.want)
		}
		lc.Close(ctx)
	}

	// Load again (it replaces the tables), with SetupSQL after it this time.
	if err := Load(ctx, conn, 10, 20, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, SetupSQL("reader-pw2", "catalog-pw2")).ReadAll(); err != nil {
		t.Fatal(err)
	}
	if got := queryValue(t, ctx, conn, "select count(*) from crm.orders"); got != "20" {
		t.Errorf("after reload: %s orders", got)
	}
}

// TestLoadCancelled checks that a Load cancelled half-way leaves nothing
// behind: it runs in one transaction.
func TestLoadCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, conn := startCRM(t, ctx)
	loadCtx, cancelLoad := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelLoad()
	if err := Load(loadCtx, conn, 1000000, 0, 1); err == nil {
		t.Fatal("Load of a million customers finished in 100ms; cannot test cancellation")
	}
	conn2, err := srv.Connect(ctx, Database)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(ctx)
	if got := queryValue(t, ctx, conn2, "select to_regclass('crm.customers') is null"); got != "t" {
		t.Error("a cancelled Load left crm.customers behind")
	}
}

// TestLoadLarge measures the full-size dataset. It takes a while, so it runs
// only when DEMOCRM_LARGE=1.
func TestLoadLarge(t *testing.T) {
	if os.Getenv("DEMOCRM_LARGE") != "1" {
		t.Skip("set DEMOCRM_LARGE=1 to load 100k customers and 1M orders")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, conn := startCRM(t, ctx)
	start := time.Now()
	if err := Load(ctx, conn, 100000, 1000000, 1); err != nil {
		t.Fatal(err)
	}
	t.Logf("Load(100000, 1000000) took %s", time.Since(start))
	if got := queryValue(t, ctx, conn, "select count(*) from crm.orders"); got != "1000000" {
		t.Errorf("%s orders", got)
	}
}

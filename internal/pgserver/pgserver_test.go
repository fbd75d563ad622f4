package pgserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// startForTest starts a server or skips the test when PostgreSQL is not
// installed; the server is stopped when the test ends.
func startForTest(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, opts)
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestStartExecStop(t *testing.T) {
	s := startForTest(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := s.Exec(ctx, "postgres", "select 1; create table t(x int); insert into t values (1); drop table t"); err != nil {
		t.Fatalf("Exec: %v", err)
	}

	// A wrong password must fail authentication with invalid_password
	// (28P01), which also shows that SCRAM, not trust, is in force.
	conn, err := pgconn.Connect(ctx, s.DSN(s.SuperUser, s.SuperPassword+"x", "postgres"))
	if err == nil {
		conn.Close(ctx)
		t.Fatal("login with a wrong password succeeded")
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
		t.Fatalf("wrong password: got %v, want SQLSTATE 28P01", err)
	}

	// The server must speak SCRAM and have the settings tests rely on.
	conn, err = s.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	res, err := conn.Exec(ctx, "show password_encryption; show max_connections; show fsync; show server_encoding").ReadAll()
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"scram-sha-256", "300", "off", "UTF8"}
	for i, w := range want {
		if got := string(res[i].Rows[0][0]); got != w {
			t.Errorf("setting %d = %q, want %q", i, got, w)
		}
	}

	dir := s.DataDir
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("data dir %s still there after Stop (stat: %v)", dir, err)
	}
	if _, err := pgconn.Connect(ctx, s.SuperDSN("postgres")); err == nil {
		t.Fatal("server still accepts logins after Stop")
	}
}

func TestTwoServersAndFixedUser(t *testing.T) {
	a := startForTest(t, Options{SuperUser: "admin", SuperPassword: "pa ss'wörd@/"})
	b := startForTest(t, Options{})
	if a.Port == b.Port {
		t.Fatalf("both servers on port %d", a.Port)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The awkward password checks DSN escaping.
	conn, err := pgconn.Connect(ctx, a.DSN("admin", "pa ss'wörd@/", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]int{
		"postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n": 15,
		"postgres (PostgreSQL) 9.6.24":                           9,
		"postgres (PostgreSQL) 17beta1":                          17,
	} {
		got, err := parseVersion(in)
		if err != nil || got != want {
			t.Errorf("parseVersion(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseVersion("no digits here"); err == nil {
		t.Error("parseVersion accepted garbage")
	}
}

func TestMissingBinaries(t *testing.T) {
	_, err := Start(context.Background(), Options{BinDir: t.TempDir()})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("got %v, want ErrNotInstalled", err)
	}
}

func TestFixedPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgserver-*"))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{Port: port, ReadyTimeout: 10 * time.Second})
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	if err == nil {
		s.Stop()
		t.Fatalf("Start on taken port %d succeeded", port)
	}
	// The error must carry the server log, which names the cause.
	if !strings.Contains(err.Error(), "could not bind") && !strings.Contains(err.Error(), "already in use") {
		t.Errorf("error does not explain the bind failure:\n%v", err)
	}
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgserver-*"))
	if len(after) > len(before) {
		t.Errorf("failed Start left a temp dir behind: %v -> %v", before, after)
	}
}

// TestOrphanShutsDown kills a process that started a server without stopping
// it, and checks that the server goes away on its own (Pdeathsig).
func TestOrphanShutsDown(t *testing.T) {
	if os.Getenv("PGSERVER_ORPHAN_CHILD") == "1" {
		s, err := Start(context.Background(), Options{})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Printf("PID %d %s\n", s.PID(), filepath.Dir(s.DataDir))
		time.Sleep(time.Minute) // wait to be killed
		os.Exit(2)
	}
	if _, _, err := findBinaries(""); err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestOrphanShutsDown$")
	cmd.Env = append(os.Environ(), "PGSERVER_ORPHAN_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q %v", line, err)
	}
	var pid int
	var root string
	if _, err := fmt.Sscanf(line, "PID %d %s", &pid, &root); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q", line)
	}
	defer os.RemoveAll(root) // the orphan cannot clean up after itself
	cmd.Process.Kill()       // SIGKILL: no deferred cleanup runs in the child
	cmd.Wait()

	deadline := time.Now().Add(15 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postmaster %d still running 15s after its parent died", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processAlive reports whether pid runs; a zombie (exited, not yet reaped by
// a container's init) counts as gone.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Format: "pid (comm) S ...": the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

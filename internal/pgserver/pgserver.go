// Package pgserver owns throwaway PostgreSQL clusters: it finds the server
// binaries, runs initdb into a fresh temporary directory, starts a postmaster
// on a free loopback port with SCRAM authentication only, and tears it all
// down again. Tests use it to put a real server behind the proxy, and
// `pgveil demo` uses it so that a DBA can try pgveil without a database of
// their own.
//
// The cluster is tuned for speed, not durability (fsync off, wal_level
// minimal): everything in it is disposable, and Stop deletes it.
package pgserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotInstalled is returned by Start when no PostgreSQL server binaries
// (initdb and postgres) can be found. Tests may skip on it.
var ErrNotInstalled = errors.New("pgserver: PostgreSQL server binaries (initdb, postgres) not found; install postgresql (e.g. apt-get install postgresql)")

// Options says how to start a server. The zero value is valid.
type Options struct {
	Port          int                              // 0 = pick a free port on 127.0.0.1
	SuperUser     string                           // default "postgres"
	SuperPassword string                           // default: 24 random hex characters
	Logf          func(format string, args ...any) // optional progress log, e.g. t.Logf
	// BinDir, if set, is the directory holding initdb and postgres
	// ("/usr/lib/postgresql/16/bin"); it overrides discovery.
	BinDir string
	// ReadyTimeout bounds how long Start waits for the server to accept
	// connections; default 30s.
	ReadyTimeout time.Duration
	// TLS, if set, turns on SSL with the given certificate and key. Nil
	// leaves SSL off, as it always was.
	TLS *TLSOptions
}

// TLSOptions give a server a certificate. Start copies both files into the
// data directory, the key with mode 0600 and owned by the server's account
// (PostgreSQL refuses a key that others can read), so the originals may be
// anywhere and need not be readable by that account.
type TLSOptions struct {
	CertFile string // PEM server certificate, optionally followed by intermediates
	KeyFile  string // PEM private key, unencrypted (PKCS#1, PKCS#8 or SEC 1)
	// Require refuses TCP logins without TLS: pg_hba.conf then has only
	// hostssl lines, and a plaintext login fails with SQLSTATE 28000 ("no
	// pg_hba.conf entry ... no encryption"). Without it, host lines accept
	// TCP logins with and without TLS. The Unix socket needs no TLS either
	// way.
	Require bool
}

// Server is a running throwaway cluster. Its fields are informational;
// change none of them.
type Server struct {
	Host          string // "127.0.0.1"
	SuperUser     string // "postgres"
	SuperPassword string
	DataDir       string // the cluster's data directory, inside the temp dir
	Port          int

	root    string // the temp dir that holds DataDir, the log and the pwfile; removed by Stop
	logPath string
	binDir  string
	version int // server major version, e.g. 15
	logf    func(format string, args ...any)
	tls     *tlsFiles // nil: SSL off

	proc *postmaster

	stopOnce sync.Once
	stopErr  error
}

// tlsFiles is what Start read from TLSOptions, ready to be written into
// the data directory.
type tlsFiles struct {
	cert, key []byte
	require   bool
}

// postmaster is one started postgres process. Its exit is observed by a
// single goroutine, which closes done.
type postmaster struct {
	pid     int
	done    chan struct{}
	waitErr error // valid after done is closed
}

const (
	defaultSuperUser = "postgres"
	startAttempts    = 3 // tries with a fresh port when the chosen one is taken
	stopGrace        = 10 * time.Second
)

// Start creates and starts a new cluster. The caller must call Stop, also
// when the test fails; a cluster left behind by a killed process is shut down
// by the kernel's parent-death signal, but its directory stays in the temp dir.
func Start(ctx context.Context, opts Options) (*Server, error) {
	s := &Server{
		Host:          "127.0.0.1",
		SuperUser:     opts.SuperUser,
		SuperPassword: opts.SuperPassword,
		logf:          opts.Logf,
	}
	if s.SuperUser == "" {
		s.SuperUser = defaultSuperUser
	}
	if s.SuperPassword == "" {
		s.SuperPassword = randomHex(12)
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	readyTimeout := opts.ReadyTimeout
	if readyTimeout <= 0 {
		readyTimeout = 30 * time.Second
	}
	if opts.TLS != nil {
		files, err := readTLS(opts.TLS)
		if err != nil {
			return nil, err
		}
		s.tls = files
	}

	binDir, version, err := findBinaries(opts.BinDir)
	if err != nil {
		return nil, err
	}
	s.binDir, s.version = binDir, version

	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}

	if err := s.makeRoot(cred); err != nil {
		return nil, err
	}
	// From here on a failure must remove what we made.
	ok := false
	defer func() {
		if !ok {
			_ = s.Stop()
		}
	}()

	if err := s.initdb(ctx, cred); err != nil {
		return nil, err
	}
	if err := s.writeConfig(cred); err != nil {
		return nil, err
	}

	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		s.Port = port
		err = s.startPostmaster(ctx, cred, readyTimeout)
		if err == nil {
			break
		}
		// Only a port race is worth another try, and only when we chose the port.
		if opts.Port != 0 || attempt >= startAttempts || !errors.Is(err, errPortInUse) {
			return nil, err
		}
		s.logf("pgserver: port %d was taken, retrying", port)
	}
	ok = true
	s.logf("pgserver: PostgreSQL %d ready on %s (data %s)", s.version, s.Addr(), s.DataDir)
	return s, nil
}

// Addr is the server's TCP address, "127.0.0.1:PORT".
func (s *Server) Addr() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// DSN is a connection URL for the given login, e.g.
// "postgres://crm_reader:pw@127.0.0.1:54321/crm?sslmode=disable". TLS is off
// unless the server requires it (TLSOptions.Require); then it is
// sslmode=require, which encrypts without checking the certificate.
func (s *Server) DSN(user, password, database string) string {
	sslmode := "disable"
	if s.tls != nil && s.tls.require {
		sslmode = "require"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     s.Addr(),
		Path:     "/" + database,
		RawQuery: "sslmode=" + sslmode,
	}
	return u.String()
}

// SuperDSN is DSN for the superuser.
func (s *Server) SuperDSN(database string) string {
	return s.DSN(s.SuperUser, s.SuperPassword, database)
}

// Connect opens a connection to database as the superuser. The caller closes it.
func (s *Server) Connect(ctx context.Context, database string) (*pgconn.PgConn, error) {
	return pgconn.Connect(ctx, s.SuperDSN(database))
}

// Exec runs sql, which may hold several statements, in database as the
// superuser over the simple query protocol. Statements that cannot run in a
// transaction block (CREATE DATABASE) must be sent alone.
func (s *Server) Exec(ctx context.Context, database, sql string) error {
	conn, err := s.Connect(ctx, database)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql).ReadAll()
	return err
}

// LogPath is the server's log file. It is removed by Stop.
func (s *Server) LogPath() string { return s.logPath }

// Version is the server's major version, e.g. 15.
func (s *Server) Version() int { return s.version }

// PID is the postmaster's process id, or 0 once stopped.
func (s *Server) PID() int {
	if s.proc == nil {
		return 0
	}
	return s.proc.pid
}

// Stop shuts the server down with a fast shutdown (SIGINT: roll back open
// transactions, disconnect clients), waits up to 10s before SIGKILL, and
// removes the temp dir. It is safe to call more than once and concurrently;
// later calls return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		if p := s.proc; p != nil {
			if err := p.stop(stopGrace); err != nil {
				errs = append(errs, err)
			}
		}
		if s.root != "" {
			if err := os.RemoveAll(s.root); err != nil {
				errs = append(errs, fmt.Errorf("pgserver: remove %s: %w", s.root, err))
			}
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

func (p *postmaster) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil // already gone, e.g. it failed to start
	default:
	}
	_ = syscall.Kill(p.pid, syscall.SIGINT)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	// The backends notice the postmaster's death on their own and exit.
	_ = syscall.Kill(p.pid, syscall.SIGKILL)
	select {
	case <-p.done:
		return fmt.Errorf("pgserver: postmaster %d ignored fast shutdown for %s and was killed", p.pid, grace)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("pgserver: postmaster %d did not exit after SIGKILL", p.pid)
	}
}

// findBinaries returns the directory with initdb and postgres and the
// server's major version. Debian's /usr/lib/postgresql/N/bin is preferred,
// highest N first, because the initdb or pg_ctl on PATH may be Debian's
// pg_wrapper scripts (or links to some other version).
func findBinaries(override string) (dir string, version int, err error) {
	if override != "" {
		return checkBinDir(override)
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	type cand struct {
		dir string
		ver float64
	}
	var cands []cand
	for _, m := range matches {
		// "9.6" and "16" both parse as floats, which orders them correctly.
		v, perr := strconv.ParseFloat(filepath.Base(filepath.Dir(m)), 64)
		if perr != nil {
			continue
		}
		cands = append(cands, cand{m, v})
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].ver > cands[j].ver })
	for _, c := range cands {
		if d, v, err := checkBinDir(c.dir); err == nil {
			return d, v, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if d, v, err := checkBinDir(filepath.Dir(p)); err == nil {
			return d, v, nil
		}
	}
	return "", 0, ErrNotInstalled
}

func checkBinDir(dir string) (string, int, error) {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", 0, fmt.Errorf("%w (no executable %s in %s)", ErrNotInstalled, name, dir)
		}
	}
	out, err := exec.Command(filepath.Join(dir, "postgres"), "--version").Output()
	if err != nil {
		return "", 0, fmt.Errorf("pgserver: %s --version: %w", filepath.Join(dir, "postgres"), err)
	}
	v, err := parseVersion(string(out))
	if err != nil {
		return "", 0, err
	}
	// SCRAM-SHA-256 arrived in PostgreSQL 10.
	if v < 10 {
		return "", 0, fmt.Errorf("pgserver: PostgreSQL %d in %s is too old; need 10 or later", v, dir)
	}
	return dir, v, nil
}

// parseVersion reads the major version from "postgres (PostgreSQL) 15.18 (Debian ...)".
func parseVersion(s string) (int, error) {
	for _, f := range strings.Fields(s) {
		if f == "" || f[0] < '0' || f[0] > '9' {
			continue
		}
		end := strings.IndexFunc(f, func(r rune) bool { return r < '0' || r > '9' })
		if end < 0 {
			end = len(f)
		}
		v, err := strconv.Atoi(f[:end])
		if err == nil {
			return v, nil
		}
	}
	return 0, fmt.Errorf("pgserver: cannot read a version from %q", strings.TrimSpace(s))
}

// serverCredential returns the OS identity to run initdb and postgres as, or
// nil to run them as ourselves. PostgreSQL refuses to run as root, so under
// root (CI containers, `sudo pgveil demo`) we switch to the postgres account,
// or nobody where there is none.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		// Groups left empty: setgroups(0) drops root's supplementary groups.
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("pgserver: running as root, and neither a postgres nor a nobody account exists to run the server as")
}

// makeRoot creates the temp dir. Under root it is chowned to the server's
// account, and it is placed under /tmp if TMPDIR is not reachable by that
// account (e.g. TMPDIR=/root/tmp).
func (s *Server) makeRoot(cred *syscall.Credential) error {
	parent := os.TempDir()
	if cred != nil && !worldSearchable(parent) {
		parent = "/tmp"
	}
	root, err := os.MkdirTemp(parent, "pgserver-")
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	s.root = root
	s.DataDir = filepath.Join(root, "data")
	s.logPath = filepath.Join(root, "server.log")
	if cred != nil {
		if err := os.Chown(root, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgserver: chown %s: %w", root, err)
		}
	}
	return nil
}

// worldSearchable reports whether every directory from dir up to / can be
// traversed by any user.
func worldSearchable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

func (s *Server) initdb(ctx context.Context, cred *syscall.Credential) error {
	// initdb reads the superuser password from a file so that it never shows
	// in a process listing. The file goes once initdb is done.
	pwfile := filepath.Join(s.root, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.SuperPassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	defer os.Remove(pwfile)
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgserver: chown %s: %w", pwfile, err)
		}
	}
	args := []string{
		"-D", s.DataDir,
		"-U", s.SuperUser,
		"--pwfile=" + pwfile,
		"--auth=scram-sha-256",
		"--encoding=UTF8",
		"--locale=C",
		"--no-sync", // a throwaway cluster need not survive a power cut
	}
	cmd := exec.CommandContext(ctx, filepath.Join(s.binDir, "initdb"), args...)
	cmd.Dir = s.root
	cmd.Env = serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgserver: initdb failed: %w\n%s", err, tail(out, 30))
	}
	s.logf("pgserver: initdb took %s", time.Since(start).Round(time.Millisecond))
	return nil
}

// writeConfig appends our settings to postgresql.conf (later lines win) and
// replaces pg_hba.conf so that only password logins over loopback and the
// private socket are possible. The port is not here: it is passed with -p so
// that a retry on another port needs no rewrite. With TLS, the certificate
// and key are written into the data directory too.
func (s *Server) writeConfig(cred *syscall.Credential) error {
	conf := fmt.Sprintf(`
# --- pgserver: a throwaway cluster, tuned for speed ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
password_encryption = 'scram-sha-256'
max_connections = 300
shared_buffers = '128MB'
fsync = off
synchronous_commit = off
full_page_writes = off
# minimal WAL lets COPY into a table created in the same transaction skip WAL.
wal_level = minimal
max_wal_senders = 0
logging_collector = off
log_destination = 'stderr'
log_min_messages = warning
log_line_prefix = '%%m [%%p] %%q%%u@%%d '
lc_messages = 'C'
timezone = 'UTC'
`, s.DataDir)
	if s.tls != nil {
		if err := s.writeTLSFiles(cred); err != nil {
			return err
		}
		// Relative paths are relative to the data directory.
		conf += fmt.Sprintf(`ssl = on
ssl_cert_file = '%s'
ssl_key_file = '%s'
`, tlsCertName, tlsKeyName)
	}
	f, err := os.OpenFile(filepath.Join(s.DataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return fmt.Errorf("pgserver: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	hba := `# pgserver: SCRAM passwords only; no trust, no peer, no remote hosts.
local all all scram-sha-256
host  all all 127.0.0.1/32 scram-sha-256
host  all all ::1/128      scram-sha-256
`
	if s.tls != nil && s.tls.require {
		// hostssl matches only TLS connections, so a plaintext TCP login
		// finds no entry and is refused.
		hba = `# pgserver: SCRAM passwords only; no trust, no peer, no remote hosts;
# TCP only over TLS.
local   all all scram-sha-256
hostssl all all 127.0.0.1/32 scram-sha-256
hostssl all all ::1/128      scram-sha-256
`
	}
	// WriteFile truncates the existing file, keeping its owner and mode.
	if err := os.WriteFile(filepath.Join(s.DataDir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	return nil
}

// The names of the certificate and key in the data directory.
const (
	tlsCertName = "server.crt"
	tlsKeyName  = "server.key"
)

// readTLS reads the certificate and key named in o, so that a wrong path
// fails Start before initdb runs.
func readTLS(o *TLSOptions) (*tlsFiles, error) {
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, errors.New("pgserver: TLS needs both CertFile and KeyFile")
	}
	cert, err := os.ReadFile(o.CertFile)
	if err != nil {
		return nil, fmt.Errorf("pgserver: TLS certificate: %w", err)
	}
	key, err := os.ReadFile(o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("pgserver: TLS key: %w", err)
	}
	return &tlsFiles{cert: cert, key: key, require: o.Require}, nil
}

// writeTLSFiles puts the certificate and key into the data directory,
// owned by the server's account. The key must be mode 0600 (or root-owned
// and 0640): PostgreSQL refuses to start with a key others can read.
func (s *Server) writeTLSFiles(cred *syscall.Credential) error {
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{tlsCertName, s.tls.cert, 0o644},
		{tlsKeyName, s.tls.key, 0o600},
	} {
		path := filepath.Join(s.DataDir, f.name)
		// O_EXCL: initdb creates neither file, and a leftover one with
		// looser permissions must not be reused.
		fh, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, f.mode)
		if err != nil {
			return fmt.Errorf("pgserver: %w", err)
		}
		_, err = fh.Write(f.data)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(path, f.mode) // the umask may have narrowed the certificate's mode
		}
		if err == nil && cred != nil {
			err = os.Chown(path, int(cred.Uid), int(cred.Gid))
		}
		if err != nil {
			return fmt.Errorf("pgserver: %s: %w", path, err)
		}
	}
	return nil
}

var errPortInUse = errors.New("port in use")

// startPostmaster starts postgres on s.Port and waits until it accepts a
// login. On failure the process is gone and the error carries the log tail.
func (s *Server) startPostmaster(ctx context.Context, cred *syscall.Credential, readyTimeout time.Duration) error {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	logStart, _ := logFile.Seek(0, 2)

	cmd := exec.Command(filepath.Join(s.binDir, "postgres"), "-D", s.DataDir, "-p", strconv.Itoa(s.Port))
	cmd.Dir = s.root
	cmd.Env = serverEnv()
	// The server writes its log to stderr; stdout gets nothing of interest.
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// Its own process group keeps a terminal's Ctrl-C from reaching the
		// server before we can shut it down in order.
		Setpgid: true,
		// If this process dies without calling Stop (a test binary killed
		// by `go test -timeout`), the kernel asks the server for a fast
		// shutdown. Pdeathsig fires when the forking *thread* exits, so the
		// goroutine below keeps its thread locked for the server's lifetime.
		Pdeathsig: syscall.SIGINT,
	}

	p := &postmaster{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine returns, Go retires the
		// thread, which is fine because the server has exited by then.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(p.done)
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	err = <-started
	logFile.Close() // the child has its own copy
	if err != nil {
		return fmt.Errorf("pgserver: start postgres: %w", err)
	}
	s.proc = p
	s.logf("pgserver: postgres pid %d on port %d", p.pid, s.Port)

	if err := s.waitReady(ctx, p, readyTimeout); err != nil {
		_ = p.stop(stopGrace)
		s.proc = nil
		logTail := s.readLogFrom(logStart)
		if bytes.Contains(logTail, []byte("could not bind")) || bytes.Contains(logTail, []byte("Address already in use")) {
			err = fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return fmt.Errorf("%w\n--- server log (%s) ---\n%s", err, s.logPath, tail(logTail, 40))
	}
	return nil
}

// waitReady polls with real logins until one succeeds, the postmaster exits,
// or the timeout passes. A login, not a TCP connect, is the test: the port
// opens before the server is ready to authenticate.
func (s *Server) waitReady(ctx context.Context, p *postmaster, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("pgserver: postgres exited during startup: %v", p.waitErr)
		default:
		}
		// The attempt is abandoned as soon as the postmaster exits: whatever
		// holds the port then (another server) may never answer.
		attemptCtx, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		go func() {
			select {
			case <-p.done:
				cancelAttempt()
			case <-attemptCtx.Done():
			}
		}()
		conn, err := s.Connect(attemptCtx, "postgres")
		cancelAttempt()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgserver: server not ready after %s: %w (last: %v)", timeout, ctx.Err(), lastErr)
		case <-p.done:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Server) readLogFrom(off int64) []byte {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return []byte(fmt.Sprintf("(cannot read log: %v)", err))
	}
	if off > 0 && off <= int64(len(b)) {
		b = b[off:]
	}
	return b
}

// serverEnv is our environment without PG* variables (PGDATA, PGPORT,
// PGOPTIONS would change what initdb and postgres do) and without locale
// variables, so that messages are in English whatever the host says.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "LC_") || k == "LANG" || k == "LANGUAGE" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before postgres binds it; Start retries when that happens.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgserver: find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("pgserver: find a free port: %w", err)
	}
	return port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("pgserver: crypto/rand: " + err.Error()) // never happens on Linux
	}
	return hex.EncodeToString(b)
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	s := strings.TrimRight(string(b), "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

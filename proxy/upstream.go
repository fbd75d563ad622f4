package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgveil/pgveil/rules"
)

// connectUpstream logs in to PostgreSQL as the user's upstream_user with
// pgconn (which handles TLS per sslmode, SCRAM and md5), then hijacks the
// raw connection for the pump. The client's startup parameters are passed
// on, except those that identify or that pgveil decides itself.
func (c *session) connectUpstream(user *rules.User, st *startup) error {
	cfg := c.srv.cfg
	password, err := user.UpstreamPassword()
	if err != nil {
		c.log.Error("upstream password unavailable", "user", user.Name, "err", err)
		return fatal(SideProxy, codeConfigurationFileErr, "pgveil cannot log in upstream for this user; see the proxy log", nil)
	}
	database := st.params["database"]
	if database == "" {
		database = cfg.Upstream.Database
	}
	if database == "" {
		database = user.UpstreamUser
	}
	pc, err := upstreamConfig(&cfg.Upstream)
	if err != nil {
		return fatal(SideProxy, codeConfigurationFileErr, "invalid [upstream] configuration; see the proxy log", err)
	}
	pc.User = user.UpstreamUser
	pc.Password = password
	pc.Database = database
	for k, v := range st.params {
		switch k {
		case "user", "database":
		default:
			pc.RuntimeParams[k] = v
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), cfg.Upstream.ConnectTimeout.Duration)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && !strings.HasPrefix(pgErr.Code, "28") {
			// The server refused the session for a reason the client can act
			// on (unknown database, bad parameter, too many connections):
			// pass SQLSTATE and message on, as PostgreSQL would have.
			return &Error{Severity: "FATAL", Code: pgErr.Code, Message: pgErr.Message, Side: SideUpstream, Err: err}
		}
		// Authentication failures upstream are the DBA's problem and must
		// not look like the client's password being wrong. (fail logs it.)
		return fatal(SideUpstream, codeConnectionFailure, "pgveil could not connect to the upstream server", err)
	}
	if c.srv.filter != nil {
		// Masking resolves table names as the server will, which needs the
		// session's search_path; PostgreSQL does not report it.
		res, err := conn.Exec(ctx, "SHOW search_path").ReadAll()
		if err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
			conn.Close(context.Background())
			return fatal(SideUpstream, codeConnectionFailure, "pgveil could not read the session's search_path upstream", err)
		}
		c.info.SearchPath = splitSearchPath(string(res[0].Rows[0][0]), user.UpstreamUser)
	}
	hc, err := conn.Hijack()
	if err != nil {
		conn.Close(context.Background())
		return fatal(SideProxy, codeInternalError, "internal error", err)
	}
	if hc.Frontend.ReadBufferLen() != 0 {
		hc.Conn.Close()
		return fatal(SideUpstream, codeProtocolViolation, "unexpected data from the upstream server after login", nil)
	}
	c.upstream = hc.Conn
	c.upstreamAddr = net.JoinHostPort(cfg.Upstream.Host, strconv.Itoa(cfg.Upstream.Port))
	c.upstreamPID = hc.PID
	c.upstreamKey = hc.SecretKey
	c.upstreamParams = hc.ParameterStatuses
	c.info.ServerParams = hc.ParameterStatuses
	c.txStatus.Store(uint32(hc.TxStatus))
	c.info.Database = database
	c.sr = bufio.NewReaderSize(c.upstream, serverReadBuf)
	c.sw = bufio.NewWriterSize(c.upstream, serverWriteBuf)
	return nil
}

// UpstreamConfig returns the pgconn configuration pgveil uses to log in to
// the upstream as user, with TLS per [upstream] sslmode. Other packages
// (the catalog reader) use it for their own logins.
func UpstreamConfig(u *rules.Upstream, user, password, database string) (*pgconn.Config, error) {
	pc, err := upstreamConfig(u)
	if err != nil {
		return nil, err
	}
	pc.User, pc.Password, pc.Database = user, password, database
	return pc, nil
}

// upstreamConfig builds a pgconn config from [upstream]. pgconn derives TLS
// settings from sslmode and sslrootcert exactly as libpq does; everything
// else is set explicitly so that PG* environment variables of the proxy
// process cannot change where or how it connects.
func upstreamConfig(u *rules.Upstream) (*pgconn.Config, error) {
	dsn := fmt.Sprintf("host=%s port=%d sslmode=%s", quoteDSN(u.Host), u.Port, quoteDSN(u.SSLMode))
	if u.CA != "" {
		dsn += " sslrootcert=" + quoteDSN(u.CA)
	}
	pc, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	pc.RuntimeParams = make(map[string]string)
	pc.KerberosSrvName, pc.KerberosSpn = "", ""
	pc.ValidateConnect, pc.AfterConnect = nil, nil
	// pgconn's own connect timeout is the context's.
	pc.ConnectTimeout = 0
	for _, fb := range pc.Fallbacks {
		fb.Host = u.Host
	}
	return pc, nil
}

func quoteDSN(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// splitSearchPath splits SHOW search_path output ("\"$user\", public")
// into schema names, removing identifier quotes and expanding $user to the
// upstream user name, as PostgreSQL does.
func splitSearchPath(s, user string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if len(part) >= 2 && part[0] == '"' && part[len(part)-1] == '"' {
			part = strings.ReplaceAll(part[1:len(part)-1], `""`, `"`)
		}
		if part == "$user" {
			part = user
		}
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}

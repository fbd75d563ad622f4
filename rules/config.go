// Package rules owns pgveil's configuration: what is personal data, which
// kind it is, and which policy each caller gets. The DBA writes one TOML file
// (see pgveil.example.toml); Load reads it, fills in defaults and checks it
// as a whole, so that a mistake is reported with its file and line before
// pgveil accepts a single connection.
//
// The loader is strict on purpose. A misspelled key in a masking
// configuration is not a cosmetic problem: `tls_crt` silently ignored means a
// proxy without TLS, and `rol = ["analyst"]` means a policy that never
// matches. So unknown keys are errors (with a "did you mean"), types are
// checked before anything is used, and every problem found is reported at
// once, each as FILE:LINE: message.
//
// Error messages and printed configurations never contain secrets: password
// verifiers are redacted and passwords read from the environment or from
// files are only ever returned to the caller that asks for them.
//
// This package must stay off the network: it may parse addresses (net/netip)
// but never dial, listen or resolve.
package rules

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is one pgveil configuration file, decoded, defaulted and checked.
// A *Config returned by Load or Parse is valid; treat it as read-only, since
// it is shared by every connection.
type Config struct {
	Path     string              `toml:"-"`                  // file it was loaded from: "/etc/pgveil/pgveil.toml"
	Server   Server              `toml:"server"`             // how pgveil itself runs
	Upstream Upstream            `toml:"upstream"`           // the PostgreSQL server behind pgveil
	Tokens   Tokens              `toml:"tokens,omitempty"`   // the key behind tokens and pseudonyms
	Listen   []Listener          `toml:"listen"`             // where clients connect; at least one
	Networks map[string][]string `toml:"networks,omitempty"` // region -> CIDRs: "CN" -> ["10.10.0.0/16"]
	Users    []User              `toml:"users,omitempty"`    // who may log in
	Classify []Classification    `toml:"classify,omitempty"` // which columns hold which kind of personal data
	Policy   []Policy            `toml:"policy,omitempty"`   // what each caller sees; the first match applies

	// networks is Networks parsed and ordered for Region: longest prefix
	// first, ties by region name. Filled by Parse.
	networks []regionPrefix
	// proxyFrom is Server.ProxyProtocolFrom parsed. Filled by Parse.
	proxyFrom []netip.Prefix
	// compiled is Classify and Policy made ready for Kind, Session and
	// Decide. Filled by Parse; nil when there is neither.
	compiled *compiled
}

// Server is the [server] table: how pgveil accepts connections and runs.
type Server struct {
	TLSCert string `toml:"tls_cert,omitempty"` // "/etc/pgveil/server.crt" (PEM)
	TLSKey  string `toml:"tls_key,omitempty"`  // "/etc/pgveil/server.key" (PEM)
	// TLS is "required", "optional" or "disabled". It defaults to
	// "optional" when tls_cert is set and to "disabled" otherwise;
	// "required" and "optional" need tls_cert and tls_key.
	TLS             string   `toml:"tls"`
	ClientCA        string   `toml:"client_ca,omitempty"`    // "/etc/pgveil/clients-ca.crt": CA for users with cert = true
	AdminListen     string   `toml:"admin_listen,omitempty"` // "127.0.0.1:9187": /metrics and /healthz; "" for none
	MaxConnections  int      `toml:"max_connections"`        // 2000; default 1000, must be > 0
	AuditLog        string   `toml:"audit_log,omitempty"`    // "/var/log/pgveil/audit.jsonl", "-" for stdout, "" for none
	MaxMessageSize  ByteSize `toml:"max_message_size"`       // "64MiB"; default 64 MiB, between 1 MiB and 1 GiB
	AuthTimeout     Duration `toml:"auth_timeout"`           // "60s": time a client has to log in; default 60s, > 0
	IdleTimeout     Duration `toml:"idle_timeout"`           // "30m": close idle sessions; default 0 (never)
	ShutdownTimeout Duration `toml:"shutdown_timeout"`       // "30s": how long to drain sessions on shutdown; default 30s
	TCPKeepalive    Duration `toml:"tcp_keepalive"`          // "60s": keepalive period; default 60s, 0 disables
	LogLevel        string   `toml:"log_level"`              // "debug", "info" (default), "warn" or "error"
	LogFormat       string   `toml:"log_format"`             // "text" (default) or "json"
	// ProxyProtocolFrom lists the load balancers ("10.0.0.5/32",
	// "fd00::/64") whose connections must open with a PROXY protocol v2
	// header naming the real client. Connections from anywhere else are
	// never trusted to send one.
	ProxyProtocolFrom []string `toml:"proxy_protocol_from,omitempty"`
}

// Upstream is the [upstream] table: the PostgreSQL server pgveil forwards to.
type Upstream struct {
	Host     string `toml:"host"`               // "crm-db.sh.internal", "10.0.0.5" or a socket directory "/var/run/postgresql"
	Port     int    `toml:"port"`               // 5432 (default)
	Database string `toml:"database,omitempty"` // "crm": used when the client names none
	// SSLMode is "disable", "require" (default), "verify-ca" or
	// "verify-full". libpq's "prefer" and "allow" are refused: they fall
	// back to cleartext without telling anyone.
	SSLMode             string   `toml:"sslmode"`
	CA                  string   `toml:"ca,omitempty"`                    // "/etc/pgveil/upstream-ca.crt" for verify-ca/verify-full
	CatalogUser         string   `toml:"catalog_user,omitempty"`          // "pgveil_catalog": the login pgveil reads the catalog with
	CatalogPasswordEnv  string   `toml:"catalog_password_env,omitempty"`  // "PGVEIL_CATALOG_PASSWORD"
	CatalogPasswordFile string   `toml:"catalog_password_file,omitempty"` // "/etc/pgveil/catalog.pass"
	ConnectTimeout      Duration `toml:"connect_timeout"`                 // "10s" (default), > 0
}

// Tokens is the [tokens] table: the key behind deterministic tokens and
// pseudonyms.
type Tokens struct {
	KeyFile string `toml:"key_file,omitempty"` // "/etc/pgveil/token.key": 32 random bytes, hex (`pgveil keygen`)
}

// Listener is one [[listen]] entry: an address clients connect to.
type Listener struct {
	Address string `toml:"address"` // "0.0.0.0:6432", "[::]:6432", ":6432"
	// Region, when set, is the region of every connection arriving here
	// ("EU"), whatever its address; when empty, [networks] decides.
	Region string `toml:"region,omitempty"`
}

// User is one [[users]] entry: a login pgveil accepts and the upstream role
// it is mapped to.
type User struct {
	Name string `toml:"name"` // "li.na": the user name clients log in with
	// Password is a SCRAM-SHA-256 verifier made by `pgveil passwd`
	// ("SCRAM-SHA-256$4096:salt$stored:server"), never a cleartext password.
	// It is a secret and never printed.
	Password             string   `toml:"password,omitempty"`
	Cert                 bool     `toml:"cert,omitempty"`                   // true: log in with a client certificate whose CN is Name
	Roles                []string `toml:"roles,omitempty"`                  // ["analyst", "bi"]: what policies match on
	UpstreamUser         string   `toml:"upstream_user"`                    // "crm_reader": the PostgreSQL role pgveil logs in as
	UpstreamPasswordEnv  string   `toml:"upstream_password_env,omitempty"`  // "CRM_READER_PASSWORD"
	UpstreamPasswordFile string   `toml:"upstream_password_file,omitempty"` // "/etc/pgveil/crm_reader.pass"
}

// Classification is one [[classify]] entry: columns that hold one kind of
// personal data.
type Classification struct {
	// Columns are schema.table.column patterns; * matches within one part:
	// ["crm.customers.mobile", "*.*.phone"].
	Columns []string `toml:"columns"`
	Kind    string   `toml:"kind"` // "phone": a free name that policies refer to
}

// Policy is one [[policy]] entry: what a matching connection sees.
type Policy struct {
	Name string `toml:"name"`           // "overseas-analysts"
	When When   `toml:"when,omitempty"` // which connections it applies to; empty matches all
	// Default is the transform for classified columns whose kind Mask does
	// not name: "clear", "redact", "hash", ... (see ParseTransform).
	Default    string   `toml:"default"`
	ReadOnly   bool     `toml:"read_only,omitempty"`   // true: writes are refused
	DenyTables []string `toml:"deny_tables,omitempty"` // ["crm.staff_notes"]: refused outright
	// Predicates says what to do with filters and sorts on lossily masked
	// columns: "deny" (also the meaning of "") or "allow_tokens".
	Predicates string            `toml:"predicates,omitempty"`
	Mask       map[string]string `toml:"mask,omitempty"`       // kind -> transform: "phone" -> "partial(3,4)"
	RowFilter  map[string]string `toml:"row_filter,omitempty"` // table -> filter: "crm.customers" -> "consent_cross_border"
}

// When says which connections a policy applies to. Every non-empty list must
// match; an empty When matches every connection.
type When struct {
	Region []string `toml:"region,omitempty"` // ["EU", "US"]
	Roles  []string `toml:"roles,omitempty"`  // ["analyst"]: any one of the user's roles
	Users  []string `toml:"users,omitempty"`  // ["anna.keller"]
}

// RegionUnknown is the region of a connection whose listener sets none and
// whose address is in no [networks] entry.
const RegionUnknown = "unknown"

// Duration is a length of time in the configuration: a TOML string that
// time.ParseDuration reads ("30s", "5m", "1h30m") or an integer number of
// seconds. It must not be negative.
type Duration struct{ time.Duration }

// UnmarshalTOML implements toml.Unmarshaler.
func (d *Duration) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		x, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("invalid duration %q: use e.g. \"30s\", \"5m\", \"1h30m\" or a number of seconds", v)
		}
		if x < 0 {
			return fmt.Errorf("duration %q is negative", v)
		}
		d.Duration = x
	case int64:
		if v < 0 {
			return fmt.Errorf("duration %d is negative", v)
		}
		if v > math.MaxInt64/int64(time.Second) {
			return fmt.Errorf("duration of %d seconds is too long", v)
		}
		d.Duration = time.Duration(v) * time.Second
	default:
		return fmt.Errorf("must be a duration such as \"30s\" or a number of seconds, not %s", describe(v))
	}
	return nil
}

// MarshalText writes the duration as time.Duration.String does ("1m30s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// ByteSize is an amount of memory in the configuration: an integer number of
// bytes, or a string with an IEC unit: "1048576", "512KiB", "64MiB", "1GiB".
// Decimal units (MB) are refused as ambiguous.
type ByteSize int64

// Byte size units.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
	TiB ByteSize = 1 << 40
)

var byteUnits = []struct {
	name string
	size ByteSize
}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}, {"B", 1}, {"", 1}}

// UnmarshalTOML implements toml.Unmarshaler.
func (b *ByteSize) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return fmt.Errorf("size %d is negative", v)
		}
		*b = ByteSize(v)
		return nil
	case string:
		n, err := parseByteSize(v)
		if err != nil {
			return err
		}
		*b = n
		return nil
	default:
		return fmt.Errorf("must be a size such as \"64MiB\" or a number of bytes, not %s", describe(v))
	}
}

func parseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	digits, unit := t[:i], strings.TrimSpace(t[i:])
	if digits == "" {
		return 0, fmt.Errorf("invalid size %q: use e.g. \"64MiB\", \"512KiB\", \"1GiB\" or a number of bytes", s)
	}
	for _, u := range byteUnits {
		if unit != u.name {
			continue
		}
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil || n > int64(math.MaxInt64/u.size) {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return ByteSize(n) * u.size, nil
	}
	switch strings.ToUpper(unit) {
	case "K", "KB", "M", "MB", "G", "GB", "T", "TB", "KIB", "MIB", "GIB", "TIB":
		return 0, fmt.Errorf("invalid size %q: write units as KiB, MiB or GiB (powers of 1024)", s)
	}
	return 0, fmt.Errorf("invalid size %q: use e.g. \"64MiB\", \"512KiB\", \"1GiB\" or a number of bytes", s)
}

// String writes the size with the largest unit that divides it: "64MiB".
func (b ByteSize) String() string {
	for _, u := range byteUnits[:4] {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// MarshalText writes the size as String does.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// Defaults for keys the file leaves out.
const (
	DefaultMaxConnections  = 1000
	DefaultMaxMessageSize  = 64 * MiB
	DefaultAuthTimeout     = 60 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	DefaultTCPKeepalive    = 60 * time.Second
	DefaultUpstreamPort    = 5432
	DefaultSSLMode         = "require"
	DefaultConnectTimeout  = 10 * time.Second

	minMessageSize = 1 * MiB
	maxMessageSize = 1 * GiB
)

// A Problem is one thing wrong in a configuration file. Load and Parse return
// every Problem they find, joined with errors.Join, in line order.
type Problem struct {
	File string // as given to Load or Parse
	Line int    // 1-based; 0 when the problem concerns the file as a whole
	Msg  string // never contains a secret
}

func (p *Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return p.File + ": " + p.Msg
}

// Load reads, checks and returns the configuration in the file at path. An
// error lists every problem found, one per line, as FILE:LINE: message.
func Load(path string, opts ...Option) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, opts...)
}

// An Option changes what Load and Parse check.
type Option struct{ skipKeyFile bool }

// SkipKeyFile makes Load and Parse leave [tokens] key_file unread: they
// still require it to be set when a policy uses hash, token, pseudonym or
// noise, but not that the file exist and hold a key. It is for checking a
// configuration away from the host that has the key, and for tests;
// Config.TokenKey still reads and checks the file.
var SkipKeyFile = Option{skipKeyFile: true}

// Parse checks and returns the configuration in data. name is the file name
// used in error messages and stored in Config.Path. Unless SkipKeyFile is
// given, it reads [tokens] key_file when a policy needs the key.
func Parse(name string, data []byte, opts ...Option) (*Config, error) {
	p := &parser{file: name, src: string(data)}
	for _, o := range opts {
		p.skipKeyFile = p.skipKeyFile || o.skipKeyFile
	}
	cfg := p.parse()
	if len(p.problems) > 0 {
		sort.SliceStable(p.problems, func(i, j int) bool { return p.problems[i].Line < p.problems[j].Line })
		errs := make([]error, len(p.problems))
		for i, pr := range p.problems {
			errs[i] = pr
		}
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// parser holds what one Parse call needs to report problems.
type parser struct {
	file     string
	src      string
	raw      map[string]any // the file as generic TOML: what is actually written
	loc      *locator
	problems []*Problem

	skipKeyFile bool // SkipKeyFile was given
}

func (p *parser) parse() *Config {
	// First as generic TOML, which fails only on syntax. Checking this tree
	// against the Go types below, rather than relying on the typed decoder's
	// errors, finds every unknown key and every type error in one pass, in a
	// stable order, with the array index of each: the typed decoder stops at
	// the first type error, visits keys in map order and matches keys
	// case-insensitively.
	if _, err := toml.Decode(p.src, &p.raw); err != nil {
		p.syntaxError(err)
		return nil
	}
	p.loc = newLocator(p.src)
	if !p.check(p.raw, reflect.TypeFor[Config](), nil) {
		return nil // types are wrong: what follows would report nonsense
	}
	unknownKeys := len(p.problems) > 0

	cfg := &Config{Path: p.file}
	md, err := toml.Decode(p.src, cfg)
	if err != nil {
		// The check above accepts only what decodes, so this is reached only
		// through a key also reported as unknown (the decoder folds case).
		if !unknownKeys {
			p.errorf(nil, "%s", strings.TrimPrefix(err.Error(), "toml: "))
		}
		return nil
	}
	if !unknownKeys {
		// Belt and braces: whatever the check above let through and the
		// decoder did not use is still an unknown key.
		for _, k := range md.Undecoded() {
			p.errorf([]string(k), "unknown key %q", k.String())
		}
	}
	p.setDefaults(cfg)
	p.validate(cfg)
	return cfg
}

// syntaxError reports a TOML syntax error. The parser's message may quote a
// fragment of the offending value, so it is withheld when that value is a
// password.
func (p *parser) syntaxError(err error) {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		p.add(0, err.Error())
		return
	}
	msg := pe.Message
	lines := strings.Split(p.src, "\n")
	line := ""
	if pe.Position.Line >= 1 && pe.Position.Line <= len(lines) {
		line = lines[pe.Position.Line-1]
	}
	last := pe.LastKey
	if i := strings.LastIndexByte(last, '.'); i >= 0 {
		last = last[i+1:]
	}
	if last == "password" || assignsPassword(line) {
		msg = "syntax error in a password (value not shown): quote it, e.g. password = \"SCRAM-SHA-256$...\""
	}
	p.add(pe.Position.Line, "TOML syntax: "+msg)
}

// assignsPassword reports whether line has "password" as a whole key
// followed by "=".
func assignsPassword(line string) bool {
	for i := 0; ; {
		j := strings.Index(line[i:], "password")
		if j < 0 {
			return false
		}
		i += j + len("password")
		if i-len("password") > 0 && isBareKeyByte(line[i-len("password")-1]) {
			continue
		}
		rest := strings.TrimLeft(line[i:], " \t\"'")
		if strings.HasPrefix(rest, "=") {
			return true
		}
	}
}

func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// add records a problem at line. Control characters in msg, which the TOML
// parser may quote raw from the input, are escaped: one problem, one line.
func (p *parser) add(line int, msg string) {
	if strings.ContainsFunc(msg, isControl) {
		var b strings.Builder
		for _, r := range msg {
			if isControl(r) {
				b.WriteString(strings.Trim(strconv.QuoteRune(r), "'"))
			} else {
				b.WriteRune(r)
			}
		}
		msg = b.String()
	}
	p.problems = append(p.problems, &Problem{File: p.file, Line: line, Msg: msg})
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 }

// errorf records a problem about the value at path (see idx), prefixed
// with where that is, at the line where the locator finds it.
func (p *parser) errorf(path []string, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if where := p.where(path); where != "" {
		msg = where + ": " + msg
	}
	p.add(p.loc.line(path), msg)
}

// A config path is a list of TOML keys, with array positions as index
// segments: users #2's password is {"users", idx(1), "password"}.
const idxMark = "\x01"

func idx(i int) string { return idxMark + strconv.Itoa(i) }

func isIdx(seg string) (int, bool) {
	if !strings.HasPrefix(seg, idxMark) {
		return 0, false
	}
	n, err := strconv.Atoi(seg[len(idxMark):])
	return n, err == nil
}

// sub returns path extended by segs, never sharing path's array.
func sub(path []string, segs ...string) []string {
	return append(path[:len(path):len(path)], segs...)
}

// where renders path for a message: the table it is in, in TOML header
// notation (`[server]`, `[[users]] #2 "anna.keller"`), then the key inside it
// (`when.roles`).
func (p *parser) where(path []string) string {
	head, rest := p.head(path)
	key := dotted(rest)
	switch {
	case head != "" && key != "":
		return head + " " + key
	case head != "":
		return head
	}
	return key
}

func (p *parser) head(path []string) (head string, rest []string) {
	if len(path) == 0 {
		return "", nil
	}
	// A known table is named as it should be written, an unknown one as
	// it is.
	v := p.raw[path[0]]
	shape := v
	switch ft, ok := fieldsOf(reflect.TypeFor[Config]())[path[0]]; {
	case ok && ft.Kind() == reflect.Slice:
		shape = []any{}
	case ok:
		shape = map[string]any{}
	}
	switch shape.(type) {
	case map[string]any:
		return "[" + quoteKey(path[0]) + "]", path[1:]
	case []map[string]any, []any:
		head = "[[" + quoteKey(path[0]) + "]]"
		if len(path) < 2 {
			return head, nil
		}
		n, ok := isIdx(path[1])
		if !ok {
			return head, path[1:]
		}
		head += " #" + strconv.Itoa(n+1)
		if elems, ok := asArray(v); ok && n < len(elems) {
			if m, ok := elems[n].(map[string]any); ok {
				if name, ok := m["name"].(string); ok && name != "" {
					head += " " + strconv.Quote(name)
				}
			}
		}
		return head, path[2:]
	}
	return "", path
}

// dotted writes path as a dotted TOML key, leaving out array positions.
func dotted(path []string) string {
	var b strings.Builder
	for _, seg := range path {
		if _, ok := isIdx(seg); ok {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(quoteKey(seg))
	}
	return b.String()
}

func quoteKey(k string) string {
	if k == "" {
		return `""`
	}
	for i := 0; i < len(k); i++ {
		if !isBareKeyByte(k[i]) {
			return strconv.Quote(k)
		}
	}
	return k
}

// check walks the generic TOML value v against the Go type t it will be
// decoded into, and reports unknown keys and values of the wrong type. It
// returns false if v cannot be decoded into t; unknown keys alone do not
// stop decoding.
func (p *parser) check(v any, t reflect.Type, path []string) bool {
	if reflect.PointerTo(t).Implements(reflect.TypeFor[toml.Unmarshaler]()) {
		u := reflect.New(t).Interface().(toml.Unmarshaler)
		if err := u.UnmarshalTOML(v); err != nil {
			p.errorf(path, "%v", err)
			return false
		}
		return true
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			return p.wrongType(path, "a string", v)
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return p.wrongType(path, "true or false", v)
		}
	case reflect.Int, reflect.Int64:
		n, ok := v.(int64)
		if !ok {
			return p.wrongType(path, "an integer", v)
		}
		if reflect.New(t).Elem().OverflowInt(n) {
			p.errorf(path, "%d is out of range", n)
			return false
		}
	case reflect.Slice:
		elems, ok := asArray(v)
		if !ok {
			return p.wrongType(path, "an array", v)
		}
		good := true
		for i, e := range elems {
			good = p.check(e, t.Elem(), sub(path, idx(i))) && good
		}
		return good
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return p.wrongType(path, "a table", v)
		}
		good := true
		for _, k := range sortedKeys(m) {
			good = p.check(m[k], t.Elem(), sub(path, k)) && good
		}
		return good
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return p.wrongType(path, "a table", v)
		}
		fields := fieldsOf(t)
		good := true
		for _, k := range sortedKeys(m) {
			ft, ok := fields[k]
			if !ok {
				p.unknownKey(path, k, t)
				continue
			}
			good = p.check(m[k], ft, sub(path, k)) && good
		}
		return good
	default:
		panic("BUG: rules: config field of unsupported type " + t.String())
	}
	return true
}

func (p *parser) wrongType(path []string, want string, v any) bool {
	p.errorf(path, "must be %s, not %s", want, describe(v))
	return false
}

// describe names the TOML type of a generic value, never its content.
func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case map[string]any:
		return "a table"
	case []any, []map[string]any:
		return "an array"
	}
	return "a date or time"
}

func asArray(v any) ([]any, bool) {
	switch v := v.(type) {
	case []any:
		return v, true
	case []map[string]any:
		elems := make([]any, len(v))
		for i := range v {
			elems[i] = v[i]
		}
		return elems, true
	}
	return nil, false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// fieldsOf maps each TOML key of struct type t to its field's type.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

// unknownKey reports key, found in the table at path (of Go type t), which
// has no field of that name.
func (p *parser) unknownKey(path []string, key string, t reflect.Type) {
	known := sortedKeys(fieldsOf(t))
	full := sub(path, key)
	if len(path) == 0 {
		what := fmt.Sprintf("unknown key %q", key)
		switch p.raw[key].(type) {
		case map[string]any:
			what = "unknown table [" + quoteKey(key) + "]"
		case []map[string]any:
			what = "unknown table [[" + quoteKey(key) + "]]"
		}
		hint := ""
		if s := suggest(key, known); s != "" {
			if fieldsOf(t)[s].Kind() == reflect.Slice {
				hint = " (did you mean [[" + s + "]]?)"
			} else {
				hint = " (did you mean [" + s + "]?)"
			}
		} else if home := homeOf(key); home != "" {
			hint = " (it belongs in " + home + ")"
		}
		p.add(p.loc.line(full), what+hint)
		return
	}
	head, rest := p.head(full)
	prefix := ""
	if len(rest) > 0 {
		prefix = dotted(rest[:len(rest)-1])
	}
	if prefix != "" {
		prefix += "."
	}
	msg := fmt.Sprintf("unknown key %q", prefix+key)
	if head != "" {
		msg += " in " + head
	}
	if s := suggest(key, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", prefix+s)
	} else if home := homeOf(key); home != "" {
		msg += " (it belongs in " + home + ")"
	}
	p.add(p.loc.line(full), msg)
}

// suggest returns the candidate closest to key if it is close enough to be
// a likely misspelling, or "".
func suggest(key string, candidates []string) string {
	best, bestDist := "", math.MaxInt
	k := strings.ToLower(key)
	for _, c := range candidates {
		if d := editDistance(k, strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := 2
	if len(key) <= 4 {
		limit = 1
	}
	if bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent
// bytes each cost 1, so "nmae" is one edit from "name".
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt // not a misspelling of any key we know
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// homeOf names the one table that has key, for a key written in the wrong
// table ("port" at the top level belongs in [upstream]), or "".
func homeOf(key string) string {
	var homes []string
	var walk func(t reflect.Type, table string)
	walk = func(t reflect.Type, table string) {
		fields := fieldsOf(t)
		for _, name := range sortedKeys(fields) {
			ft := fields[name]
			label := table
			switch {
			case table == "" && ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				label = "[[" + name + "]]"
			case table == "":
				label = "[" + name + "]"
			default:
				label = table + " " + name
			}
			if name == key && table != "" {
				homes = append(homes, table)
			}
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(reflect.TypeFor[toml.Unmarshaler]()) {
				walk(ft, label)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	if len(homes) == 1 {
		return homes[0]
	}
	return ""
}

// defined reports whether the file sets the value at path.
func (p *parser) defined(path ...string) bool {
	var v any = p.raw
	for _, k := range path {
		if n, ok := isIdx(k); ok {
			elems, _ := asArray(v)
			if n >= len(elems) {
				return false
			}
			v = elems[n]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[k]; !ok {
			return false
		}
	}
	return true
}

// required reports key of the table at path as missing, or as empty where
// the file sets it to "".
func (p *parser) required(path []string, key, why string) {
	if p.defined(sub(path, key)...) {
		p.errorf(sub(path, key), "must not be empty: %s", why)
	} else {
		p.errorf(path, "%s is required: %s", key, why)
	}
}

func (p *parser) setDefaults(cfg *Config) {
	s := &cfg.Server
	if !p.defined("server", "tls") {
		s.TLS = "disabled"
		if s.TLSCert != "" {
			s.TLS = "optional"
		}
	}
	if !p.defined("server", "max_connections") {
		s.MaxConnections = DefaultMaxConnections
	}
	if !p.defined("server", "max_message_size") {
		s.MaxMessageSize = DefaultMaxMessageSize
	}
	if !p.defined("server", "auth_timeout") {
		s.AuthTimeout.Duration = DefaultAuthTimeout
	}
	if !p.defined("server", "shutdown_timeout") {
		s.ShutdownTimeout.Duration = DefaultShutdownTimeout
	}
	if !p.defined("server", "tcp_keepalive") {
		s.TCPKeepalive.Duration = DefaultTCPKeepalive
	}
	if !p.defined("server", "log_level") {
		s.LogLevel = "info"
	}
	if !p.defined("server", "log_format") {
		s.LogFormat = "text"
	}
	u := &cfg.Upstream
	if !p.defined("upstream", "port") {
		u.Port = DefaultUpstreamPort
	}
	if !p.defined("upstream", "sslmode") {
		u.SSLMode = DefaultSSLMode
	}
	if !p.defined("upstream", "connect_timeout") {
		u.ConnectTimeout.Duration = DefaultConnectTimeout
	}
}

func (p *parser) validate(cfg *Config) {
	p.validateServer(cfg)
	p.validateUpstream(&cfg.Upstream)
	p.validateListen(cfg.Listen)
	cfg.networks = p.validateNetworks(cfg.Networks)
	p.validateUsers(cfg)
	p.validateClassify(cfg.Classify)
	p.validatePolicies(cfg)
	cfg.compiled = cfg.compile()
}

func (p *parser) validateServer(cfg *Config) {
	s := &cfg.Server
	at := func(key string) []string { return []string{"server", key} }
	switch s.TLS {
	case "required", "optional":
		if s.TLSCert == "" || s.TLSKey == "" {
			p.errorf(at("tls"), "%q needs tls_cert and tls_key", s.TLS)
		}
	case "disabled":
		if s.ClientCA != "" {
			p.errorf(at("client_ca"), "client certificates need TLS, but tls is \"disabled\"")
		}
	default:
		p.errorf(at("tls"), "%q is not one of \"required\", \"optional\", \"disabled\"", s.TLS)
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		if s.TLSCert == "" {
			p.errorf(at("tls_key"), "set without tls_cert")
		} else {
			p.errorf(at("tls_cert"), "set without tls_key")
		}
	}
	if s.AdminListen != "" {
		if _, err := parseHostPort(s.AdminListen); err != nil {
			p.errorf(at("admin_listen"), "%q: %v", s.AdminListen, err)
		}
	}
	if s.MaxConnections <= 0 {
		p.errorf(at("max_connections"), "must be greater than 0")
	}
	if s.MaxMessageSize < minMessageSize || s.MaxMessageSize > maxMessageSize {
		p.errorf(at("max_message_size"), "%s is outside the allowed range 1MiB to 1GiB", s.MaxMessageSize)
	}
	if s.AuthTimeout.Duration == 0 {
		p.errorf(at("auth_timeout"), "must be greater than 0: a client that never logs in would hold a connection forever")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, s.LogLevel) {
		p.errorf(at("log_level"), "%q is not one of \"debug\", \"info\", \"warn\", \"error\"", s.LogLevel)
	}
	if !slices.Contains([]string{"text", "json"}, s.LogFormat) {
		p.errorf(at("log_format"), "%q is not one of \"text\", \"json\"", s.LogFormat)
	}
	cfg.proxyFrom = p.validateProxyFrom(s.ProxyProtocolFrom)
}

// validateProxyFrom parses [server] proxy_protocol_from.
func (p *parser) validateProxyFrom(cidrs []string) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range cidrs {
		at := []string{"server", "proxy_protocol_from", idx(i)}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			p.errorf(at, "%q is not a CIDR such as \"10.0.0.5/32\" or \"fd00::/64\"", s)
			continue
		}
		if pfx != pfx.Masked() {
			p.errorf(at, "%q has bits set after the prefix length: did you mean %q?", s, pfx.Masked().String())
			continue
		}
		pfx = unmapPrefix(pfx)
		if slices.Contains(out, pfx) {
			p.errorf(at, "%q is listed twice", s)
			continue
		}
		out = append(out, pfx)
	}
	return out
}

func (p *parser) validateUpstream(u *Upstream) {
	at := func(key string) []string { return []string{"upstream", key} }
	switch {
	case strings.TrimSpace(u.Host) == "":
		p.required([]string{"upstream"}, "host", "the PostgreSQL server to forward to")
	case strings.HasPrefix(u.Host, "/"):
		// A Unix socket directory.
	default:
		if err := checkHost(u.Host); err != nil {
			p.errorf(at("host"), "%q: %v", u.Host, err)
		}
	}
	if u.Port < 1 || u.Port > 65535 {
		p.errorf(at("port"), "%d is not a TCP port (1 to 65535)", u.Port)
	}
	switch u.SSLMode {
	case "disable", "require", "verify-ca", "verify-full":
	case "prefer", "allow":
		p.errorf(at("sslmode"), "%q is not accepted: it falls back to cleartext without telling anyone; use \"require\", \"verify-ca\" or \"verify-full\" (or \"disable\" to say so)", u.SSLMode)
	default:
		p.errorf(at("sslmode"), "%q is not one of \"disable\", \"require\", \"verify-ca\", \"verify-full\"", u.SSLMode)
	}
	if u.CatalogPasswordEnv != "" && u.CatalogPasswordFile != "" {
		p.errorf(at("catalog_password_file"), "set catalog_password_env or catalog_password_file, not both")
	}
	if u.ConnectTimeout.Duration == 0 {
		p.errorf(at("connect_timeout"), "must be greater than 0")
	}
}

func (p *parser) validateListen(listen []Listener) {
	if len(listen) == 0 {
		p.errorf(nil, "no [[listen]]: pgveil needs at least one address to accept connections on, e.g. [[listen]] address = \"0.0.0.0:6432\"")
		return
	}
	seen := map[string]int{}
	for i, l := range listen {
		at := []string{"listen", idx(i)}
		if l.Address == "" {
			p.required(at, "address", "where clients connect, e.g. \"0.0.0.0:6432\"")
		} else if norm, err := parseHostPort(l.Address); err != nil {
			p.errorf(sub(at, "address"), "%q: %v", l.Address, err)
		} else if first, dup := seen[norm]; dup && !strings.HasSuffix(norm, ":0") {
			// Port 0 asks for any free port, so it may repeat.
			p.errorf(sub(at, "address"), "%q is already a listener on line %d", l.Address, p.loc.line([]string{"listen", idx(first), "address"}))
		} else {
			seen[norm] = i
		}
		if p.defined("listen", idx(i), "region") && strings.TrimSpace(l.Region) == "" {
			p.errorf(sub(at, "region"), "must not be empty: leave region out to take it from [networks]")
		}
	}
}

// regionPrefix is one [networks] CIDR and the region it belongs to.
type regionPrefix struct {
	prefix netip.Prefix
	region string
}

func (p *parser) validateNetworks(networks map[string][]string) []regionPrefix {
	var nets []regionPrefix
	owner := map[netip.Prefix]string{}
	for _, region := range sortedKeys(networks) {
		at := []string{"networks", region}
		switch {
		case strings.TrimSpace(region) == "":
			p.errorf(at, "a region name must not be empty")
		case region == RegionUnknown:
			p.errorf(at, "%q is reserved for addresses in no network", RegionUnknown)
		}
		for i, s := range networks[region] {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				p.errorf(sub(at, idx(i)), "%q is not a CIDR such as \"10.20.0.0/16\" or \"fd00:20::/48\"", s)
				continue
			}
			if pfx != pfx.Masked() {
				p.errorf(sub(at, idx(i)), "%q has bits set after the prefix length: did you mean %q?", s, pfx.Masked().String())
				continue
			}
			pfx = unmapPrefix(pfx)
			if other, dup := owner[pfx]; dup {
				if other == region {
					p.errorf(sub(at, idx(i)), "%q is listed twice", s)
				} else {
					p.errorf(sub(at, idx(i)), "%q is also in region %q: an address can have only one region", s, other)
				}
				continue
			}
			owner[pfx] = region
			nets = append(nets, regionPrefix{pfx, region})
		}
	}
	sortNetworks(nets)
	return nets
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) into
// the IPv4 prefix it means, as Region unmaps client addresses.
func unmapPrefix(pfx netip.Prefix) netip.Prefix {
	if pfx.Addr().Is4In6() && pfx.Bits() >= 96 {
		return netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
	}
	return pfx
}

// sortNetworks orders nets for Region: the most specific prefix first, ties
// by region name, so that the answer does not depend on map order.
func sortNetworks(nets []regionPrefix) {
	slices.SortStableFunc(nets, func(a, b regionPrefix) int {
		if a.prefix.Bits() != b.prefix.Bits() {
			return b.prefix.Bits() - a.prefix.Bits()
		}
		if c := strings.Compare(a.region, b.region); c != 0 {
			return c
		}
		return a.prefix.Addr().Compare(b.prefix.Addr())
	})
}

func (p *parser) validateUsers(cfg *Config) {
	seen := map[string]int{}
	for i, u := range cfg.Users {
		at := []string{"users", idx(i)}
		if u.Name == "" {
			p.required(at, "name", "the user name clients log in with")
		} else if first, dup := seen[u.Name]; dup {
			p.errorf(sub(at, "name"), "user %q is already defined on line %d", u.Name, p.loc.line([]string{"users", idx(first), "name"}))
		} else {
			seen[u.Name] = i
		}
		switch {
		case u.Password == "" && !u.Cert:
			p.errorf(at, "needs a password (a SCRAM-SHA-256 verifier from `pgveil passwd`) or cert = true")
		case u.Password == "":
		case strings.HasPrefix(u.Password, "SCRAM-SHA-256$"):
		case strings.HasPrefix(u.Password, "md5") && len(u.Password) == 35:
			p.errorf(sub(at, "password"), "md5 password hashes are not accepted: use `pgveil passwd` to make a SCRAM-SHA-256 verifier")
		default:
			p.errorf(sub(at, "password"), "looks like a cleartext password: use `pgveil passwd` to make a SCRAM-SHA-256 verifier")
		}
		if u.Cert && cfg.Server.ClientCA == "" {
			p.errorf(sub(at, "cert"), "needs [server] client_ca to verify client certificates")
		}
		for j, r := range u.Roles {
			if strings.TrimSpace(r) == "" {
				p.errorf(sub(at, "roles", idx(j)), "a role name must not be empty")
			}
		}
		if u.UpstreamUser == "" {
			p.required(at, "upstream_user", "the PostgreSQL role pgveil logs in as for this user")
		}
		if u.UpstreamPasswordEnv != "" && u.UpstreamPasswordFile != "" {
			p.errorf(sub(at, "upstream_password_file"), "set upstream_password_env or upstream_password_file, not both")
		}
	}
}

// classPattern is a [[classify]] pattern as validateClassify compares
// them.
type classPattern struct {
	pat  pattern
	col  string
	kind string
	path []string
}

func (p *parser) validateClassify(classify []Classification) {
	seen := map[string]int{}
	var pats []classPattern
	for i, c := range classify {
		at := []string{"classify", idx(i)}
		if len(c.Columns) == 0 {
			p.required(at, "columns", "the columns of this kind, e.g. [\"crm.customers.email\"]")
		}
		for j, col := range c.Columns {
			switch first, dup := seen[col]; {
			case strings.TrimSpace(col) == "":
				p.errorf(sub(at, "columns", idx(j)), "a column pattern must not be empty")
			case dup:
				p.errorf(sub(at, "columns", idx(j)), "column %q is already classified as %q on line %d", col, classify[first].Kind, p.loc.line([]string{"classify", idx(first), "columns"}))
			default:
				seen[col] = i
				pat, err := parsePattern(col)
				if err != nil {
					p.errorf(sub(at, "columns", idx(j)), "%v", err)
					break
				}
				pats = append(pats, classPattern{pat, col, c.Kind, sub(at, "columns", idx(j))})
			}
		}
		if strings.TrimSpace(c.Kind) == "" {
			p.required(at, "kind", "the kind of personal data these columns hold, e.g. \"email\"")
		}
	}
	// Patterns of equal specificity must not give one column two kinds,
	// unless a more specific pattern settles the columns they share:
	// which would win is anybody's guess.
	for j, b := range pats {
		for _, a := range pats[:j] {
			n := a.pat.wildcards()
			if n == 0 || n != b.pat.wildcards() || a.kind == b.kind {
				continue
			}
			both, ok := a.pat.intersect(b.pat)
			if !ok || slices.ContainsFunc(pats, func(c classPattern) bool { return c.pat.wildcards() < n && c.pat.covers(both) }) {
				continue
			}
			p.errorf(b.path, "%q (kind %q) and %q on line %d (kind %q) both match %s and are equally specific: classify the columns they share by an exact or more specific pattern, or drop one",
				b.col, b.kind, a.col, p.loc.line(a.path), a.kind, both)
		}
	}
}

func (p *parser) validatePolicies(cfg *Config) {
	seen := map[string]int{}
	kinds := newClassifier(cfg.Classify).kinds
	var keyUser []string // where a transform that needs the key is first used
	keyUse := ""
	for i, pol := range cfg.Policy {
		at := []string{"policy", idx(i)}
		if strings.TrimSpace(pol.Name) == "" {
			p.required(at, "name", "it names the policy in logs and audit records")
		} else if first, dup := seen[pol.Name]; dup {
			p.errorf(sub(at, "name"), "policy %q is already defined on line %d", pol.Name, p.loc.line([]string{"policy", idx(first), "name"}))
		} else {
			seen[pol.Name] = i
		}
		if strings.TrimSpace(pol.Default) == "" {
			p.required(at, "default", "the transform for classified columns that mask does not name, e.g. \"redact\"")
		} else if t, err := ParseTransform(pol.Default); err != nil {
			p.errorf(sub(at, "default"), "%v", err)
		} else if t.NeedsKey() && keyUser == nil {
			keyUser, keyUse = sub(at, "default"), fmt.Sprintf("policy %q uses %s as its default", pol.Name, t.Name)
		}
		switch pol.Predicates {
		case "", "deny", "allow_tokens":
		default:
			p.errorf(sub(at, "predicates"), "%q is not one of \"deny\", \"allow_tokens\"", pol.Predicates)
		}
		for _, w := range []struct {
			key  string
			list []string
		}{{"region", pol.When.Region}, {"roles", pol.When.Roles}, {"users", pol.When.Users}} {
			for j, s := range w.list {
				if strings.TrimSpace(s) == "" {
					p.errorf(sub(at, "when", w.key, idx(j)), "must not contain an empty name")
				}
			}
		}
		for j, t := range pol.DenyTables {
			if strings.TrimSpace(t) == "" {
				p.errorf(sub(at, "deny_tables", idx(j)), "a table name must not be empty")
			}
		}
		for _, kind := range sortedKeys(pol.Mask) {
			if strings.TrimSpace(pol.Mask[kind]) == "" {
				p.errorf(sub(at, "mask", kind), "transform must not be empty")
			} else if t, err := ParseTransform(pol.Mask[kind]); err != nil {
				p.errorf(sub(at, "mask", kind), "%v", err)
			} else if t.NeedsKey() && keyUser == nil {
				keyUser, keyUse = sub(at, "mask", kind), fmt.Sprintf("policy %q masks %s with %s", pol.Name, kind, t.Name)
			}
			if !slices.Contains(kinds, kind) {
				msg := fmt.Sprintf("unknown kind %q in [policy.mask] of policy %q", kind, pol.Name)
				switch s := suggest(kind, kinds); {
				case s != "":
					msg += fmt.Sprintf("; did you mean %q?", s)
				case len(kinds) == 0:
					msg += ": no [[classify]] declares any kind"
				default:
					msg += fmt.Sprintf(": no [[classify]] declares it (kinds: %s)", strings.Join(kinds, ", "))
				}
				p.add(p.loc.line(sub(at, "mask", kind)), msg)
			}
		}
		for _, table := range sortedKeys(pol.RowFilter) {
			if strings.TrimSpace(pol.RowFilter[table]) == "" {
				p.errorf(sub(at, "row_filter", table), "row filter must not be empty")
			}
		}
	}
	switch {
	case keyUser == nil:
		// The key is optional: nothing needs it.
	case cfg.Tokens.KeyFile == "":
		p.errorf(keyUser, "%s, which needs a key: set [tokens] key_file to a file from `pgveil keygen`", keyUse)
	case p.skipKeyFile:
	default:
		if _, err := readTokenKey(cfg.Tokens.KeyFile); err != nil {
			p.errorf([]string{"tokens", "key_file"}, "%v", err)
		}
	}
}

// parseHostPort checks a listen address, "host:port", without resolving
// anything, and returns it normalised for comparison. The host may be
// empty (all interfaces), an IP address (IPv6 in brackets) or a host name;
// the port is a number from 0 to 65535.
func parseHostPort(s string) (string, error) {
	var host, port string
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return "", errors.New("missing ] after the IPv6 address")
		}
		host, port = s[1:end], s[end+1:]
		if !strings.HasPrefix(port, ":") {
			return "", errors.New("missing :port after the IPv6 address")
		}
		port = port[1:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return "", fmt.Errorf("%q in brackets is not an IPv6 address", host)
		}
		host = "[" + a.String() + "]"
	} else {
		i := strings.LastIndexByte(s, ':')
		if i < 0 {
			return "", errors.New("missing port: write host:port, e.g. \"0.0.0.0:6432\"")
		}
		host, port = s[:i], s[i+1:]
		if strings.Contains(host, ":") {
			return "", errors.New("an IPv6 address needs brackets, e.g. \"[::]:6432\"")
		}
		if host != "" {
			if err := checkHost(host); err != nil {
				return "", err
			}
			host = strings.ToLower(host)
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || port == "" || port[0] < '0' || port[0] > '9' || n < 0 || n > 65535 {
		return "", fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return host + ":" + strconv.Itoa(n), nil
}

// checkHost accepts an IP address or something shaped like a host name.
func checkHost(host string) error {
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if strings.Contains(host, ":") {
		return errors.New("not a host name or IP address (give the port separately)")
	}
	if len(host) > 253 {
		return errors.New("host name is too long")
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 {
			return errors.New("not a valid host name")
		}
		for i := 0; i < len(label); i++ {
			if !isBareKeyByte(label[i]) {
				return errors.New("not a valid host name")
			}
		}
	}
	return nil
}

// User returns the [[users]] entry called name, or nil.
func (c *Config) User(name string) *User {
	for i := range c.Users {
		if c.Users[i].Name == name {
			return &c.Users[i]
		}
	}
	return nil
}

// Region returns the region of a connection that arrived on listener from
// addr. A listener's own region wins. Otherwise the [networks] CIDR that
// contains addr and has the longest prefix decides (TOML tables have no
// order, so the most specific network is the only order that means
// something); equal prefixes, which Parse refuses, would go by region name.
// An address in no network, or an invalid one, is in RegionUnknown.
// IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
func (c *Config) Region(listener *Listener, addr netip.Addr) string {
	if listener != nil && listener.Region != "" {
		return listener.Region
	}
	if c == nil || !addr.IsValid() {
		return RegionUnknown
	}
	nets := c.networks
	if nets == nil && len(c.Networks) > 0 {
		// A Config built by hand rather than by Parse.
		for region, cidrs := range c.Networks {
			for _, s := range cidrs {
				if pfx, err := netip.ParsePrefix(s); err == nil {
					nets = append(nets, regionPrefix{unmapPrefix(pfx.Masked()), region})
				}
			}
		}
		sortNetworks(nets)
	}
	addr = addr.Unmap().WithZone("")
	for _, n := range nets {
		if n.prefix.Contains(addr) {
			return n.region
		}
	}
	return RegionUnknown
}

// ProxyProtocolPrefixes returns [server] proxy_protocol_from as prefixes:
// the peers whose connections must start with a PROXY protocol v2 header.
// It returns nil when the key is unset.
func (c *Config) ProxyProtocolPrefixes() []netip.Prefix {
	if c == nil {
		return nil
	}
	if c.proxyFrom != nil || len(c.Server.ProxyProtocolFrom) == 0 {
		return slices.Clone(c.proxyFrom)
	}
	// A Config built or edited by hand rather than by Parse.
	var out []netip.Prefix
	for _, s := range c.Server.ProxyProtocolFrom {
		if pfx, err := netip.ParsePrefix(s); err == nil {
			out = append(out, unmapPrefix(pfx.Masked()))
		}
	}
	return out
}

// UpstreamPassword returns the password pgveil logs in upstream with for u:
// the contents of the environment variable upstream_password_env, or of the
// file upstream_password_file without its trailing newline. It returns ""
// when neither is set. Errors name the variable or file, never the secret.
func (u *User) UpstreamPassword() (string, error) {
	return readSecret(fmt.Sprintf("user %q: upstream password", u.Name), u.UpstreamPasswordEnv, u.UpstreamPasswordFile)
}

// CatalogPassword returns the password of [upstream] catalog_user, read as
// UpstreamPassword reads a user's.
func (c *Config) CatalogPassword() (string, error) {
	return readSecret("catalog password", c.Upstream.CatalogPasswordEnv, c.Upstream.CatalogPasswordFile)
}

func readSecret(what, env, file string) (string, error) {
	switch {
	case env != "" && file != "":
		return "", fmt.Errorf("%s: both an environment variable and a file are set", what)
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("%s: environment variable %s is not set", what, env)
		}
		if v == "" {
			return "", fmt.Errorf("%s: environment variable %s is empty", what, env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			// *PathError names the operation and the file, never contents.
			return "", fmt.Errorf("%s: %w", what, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%s: file %s is empty", what, file)
		}
		return v, nil
	}
	return "", nil
}

// Redacted returns the configuration as TOML, defaults filled in, with every
// password verifier replaced by "<redacted>". It is what `pgveil check`
// prints and what may go to a log.
func (c *Config) Redacted() string {
	cp := *c
	cp.Users = slices.Clone(c.Users)
	for i := range cp.Users {
		if cp.Users[i].Password != "" {
			cp.Users[i].Password = "<redacted>"
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# pgveil configuration from %q (secrets redacted)\n", c.Path)
	if err := toml.NewEncoder(&b).Encode(&cp); err != nil {
		fmt.Fprintf(&b, "# cannot print: %v\n", err)
	}
	return b.String()
}

// String returns c.Redacted(), so that printing a Config shows no secret.
func (c Config) String() string { return c.Redacted() }

// String describes u without its password verifier.
func (u User) String() string {
	auth := []string{}
	if u.Password != "" {
		auth = append(auth, "password")
	}
	if u.Cert {
		auth = append(auth, "cert")
	}
	return fmt.Sprintf("user %q (auth %s, roles %v, upstream %q)", u.Name, strings.Join(auth, "+"), u.Roles, u.UpstreamUser)
}

// GoString keeps %#v from printing the password verifier.
func (u User) GoString() string { return u.String() }

// locator finds the line where each key, table and array element of a
// configuration file is written. The TOML decoder does not expose
// positions, so this skims the source itself. It only ever sees text the
// decoder has accepted, and it is used for messages only: a wrong guess
// costs a line number, never a decision.
type locator struct {
	starts []int          // byte offset of each line
	first  map[string]int // canonical path -> offset where it first appears
}

func canonical(path []string) string { return strings.Join(path, "\x00") }

// line returns the 1-based line of path, or of its closest ancestor that
// is written in the file, or 0.
func (l *locator) line(path []string) int {
	if l == nil {
		return 0
	}
	for n := len(path); n > 0; n-- {
		if off, ok := l.first[canonical(path[:n])]; ok {
			return sort.Search(len(l.starts), func(i int) bool { return l.starts[i] > off })
		}
	}
	return 0
}

func newLocator(src string) *locator {
	l := &locator{starts: []int{0}, first: map[string]int{}}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			l.starts = append(l.starts, i+1)
		}
	}
	sk := &skimmer{s: src, loc: l, count: map[string]int{}, arrays: map[string]bool{}}
	if strings.HasPrefix(src, "\ufeff") { // a byte order mark, as editors on Windows write
		sk.i = len("\ufeff")
	}
	sk.document()
	return l
}

// skimmer walks TOML text just far enough to see where keys, headers and
// array elements start.
type skimmer struct {
	s      string
	i      int
	loc    *locator
	table  []string        // path of the current [table] or [[array]] element
	count  map[string]int  // canonical path of an array of tables -> elements so far
	arrays map[string]bool // canonical paths that are arrays of tables
}

func (sk *skimmer) record(path []string, off int) {
	if _, ok := sk.loc.first[canonical(path)]; !ok {
		sk.loc.first[canonical(path)] = off
	}
}

func (sk *skimmer) peek(prefix string) bool { return strings.HasPrefix(sk.s[sk.i:], prefix) }

// space skips blanks, and with newlines also line breaks and comments.
func (sk *skimmer) space(newlines bool) {
	for sk.i < len(sk.s) {
		switch c := sk.s[sk.i]; {
		case c == ' ' || c == '\t':
			sk.i++
		case newlines && (c == '\n' || c == '\r'):
			sk.i++
		case newlines && c == '#':
			for sk.i < len(sk.s) && sk.s[sk.i] != '\n' {
				sk.i++
			}
		default:
			return
		}
	}
}

func (sk *skimmer) document() {
	for sk.i < len(sk.s) {
		start := sk.i
		sk.space(true)
		if sk.i >= len(sk.s) {
			return
		}
		if sk.s[sk.i] == '[' {
			sk.header()
		} else {
			sk.keyValue(sk.table)
		}
		if sk.i == start {
			sk.i++ // cannot happen on valid TOML; never loop forever
		}
	}
}

func (sk *skimmer) header() {
	off := sk.i
	array := sk.peek("[[")
	if array {
		sk.i += 2
	} else {
		sk.i++
	}
	keys := sk.key()
	sk.space(false)
	for sk.i < len(sk.s) && sk.s[sk.i] == ']' {
		sk.i++
	}
	var path []string
	for j, k := range keys {
		path = append(path, k)
		c := canonical(path)
		sk.record(path, off) // [a.b.c] also locates a and a.b
		switch {
		case j == len(keys)-1 && array:
			n := sk.count[c]
			sk.count[c] = n + 1
			sk.arrays[c] = true
			sk.record(path, off)
			path = append(path, idx(n))
		case sk.arrays[c]:
			path = append(path, idx(sk.count[c]-1))
		}
	}
	sk.record(path, off)
	sk.table = path
}

// key reads a possibly dotted, possibly quoted key.
func (sk *skimmer) key() []string {
	var keys []string
	for sk.i < len(sk.s) {
		sk.space(false)
		if sk.i >= len(sk.s) {
			break
		}
		switch sk.s[sk.i] {
		case '"':
			start := sk.i
			sk.i++
			for sk.i < len(sk.s) && sk.s[sk.i] != '"' && sk.s[sk.i] != '\n' {
				if sk.s[sk.i] == '\\' {
					sk.i++
				}
				sk.i++
			}
			sk.i = min(sk.i+1, len(sk.s))
			raw := sk.s[start:sk.i]
			k, err := strconv.Unquote(raw)
			if err != nil {
				k = strings.Trim(raw, `"`)
			}
			keys = append(keys, k)
		case '\'':
			sk.i++
			start := sk.i
			for sk.i < len(sk.s) && sk.s[sk.i] != '\'' && sk.s[sk.i] != '\n' {
				sk.i++
			}
			keys = append(keys, sk.s[start:sk.i])
			sk.i = min(sk.i+1, len(sk.s))
		default:
			start := sk.i
			for sk.i < len(sk.s) && !strings.ContainsRune(" \t\r\n=.[]{}\"'#,", rune(sk.s[sk.i])) {
				sk.i++
			}
			if sk.i == start {
				return keys
			}
			keys = append(keys, sk.s[start:sk.i])
		}
		sk.space(false)
		if sk.i < len(sk.s) && sk.s[sk.i] == '.' {
			sk.i++
			continue
		}
		break
	}
	return keys
}

func (sk *skimmer) keyValue(table []string) {
	off := sk.i
	keys := sk.key()
	if len(keys) == 0 {
		return
	}
	path := slices.Clone(table)
	for _, k := range keys {
		path = append(path, k)
		sk.record(path, off)
	}
	sk.space(false)
	if sk.i < len(sk.s) && sk.s[sk.i] == '=' {
		sk.i++
	}
	sk.space(false)
	sk.value(path)
}

func (sk *skimmer) value(path []string) {
	if sk.i >= len(sk.s) {
		return
	}
	switch {
	case sk.peek(`"""`):
		sk.i += 3
		for sk.i < len(sk.s) && !sk.peek(`"""`) {
			if sk.s[sk.i] == '\\' {
				sk.i++
			}
			sk.i++
		}
		sk.i = min(sk.i+3, len(sk.s))
		for sk.i < len(sk.s) && sk.s[sk.i] == '"' { // up to two quotes end the content
			sk.i++
		}
	case sk.peek("'''"):
		sk.i += 3
		for sk.i < len(sk.s) && !sk.peek("'''") {
			sk.i++
		}
		sk.i = min(sk.i+3, len(sk.s))
		for sk.i < len(sk.s) && sk.s[sk.i] == '\'' {
			sk.i++
		}
	case sk.s[sk.i] == '"':
		sk.i++
		for sk.i < len(sk.s) && sk.s[sk.i] != '"' && sk.s[sk.i] != '\n' {
			if sk.s[sk.i] == '\\' {
				sk.i++
			}
			sk.i++
		}
		sk.i = min(sk.i+1, len(sk.s))
	case sk.s[sk.i] == '\'':
		sk.i++
		for sk.i < len(sk.s) && sk.s[sk.i] != '\'' && sk.s[sk.i] != '\n' {
			sk.i++
		}
		sk.i = min(sk.i+1, len(sk.s))
	case sk.s[sk.i] == '[':
		sk.i++
		for n := 0; sk.i < len(sk.s); n++ {
			start := sk.i
			sk.space(true)
			if sk.i >= len(sk.s) || sk.s[sk.i] == ']' {
				sk.i = min(sk.i+1, len(sk.s))
				return
			}
			elem := sub(path, idx(n))
			sk.record(elem, sk.i)
			sk.value(elem)
			sk.space(true)
			if sk.i < len(sk.s) && sk.s[sk.i] == ',' {
				sk.i++
			}
			if sk.i == start {
				sk.i++
			}
		}
	case sk.s[sk.i] == '{':
		sk.i++
		for sk.i < len(sk.s) {
			start := sk.i
			sk.space(true)
			if sk.i >= len(sk.s) || sk.s[sk.i] == '}' {
				sk.i = min(sk.i+1, len(sk.s))
				return
			}
			if sk.s[sk.i] == ',' {
				sk.i++
				continue
			}
			sk.keyValue(path)
			if sk.i == start {
				sk.i++
			}
		}
	default: // number, boolean, date: ends at a delimiter (a date may hold a space)
		for sk.i < len(sk.s) && !strings.ContainsRune(",]}#\r\n", rune(sk.s[sk.i])) {
			sk.i++
		}
	}
}

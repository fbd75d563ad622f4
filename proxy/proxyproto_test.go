package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

// proxyV2 builds a PROXY protocol v2 header: verCmd (0x21 PROXY, 0x20
// LOCAL), fam (0x11 TCP/IPv4, 0x21 TCP/IPv6, ...) and the address block.
func proxyV2(verCmd, fam byte, body []byte) []byte {
	b := append([]byte{}, proxyV2Sig...)
	b = append(b, verCmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

// inet4 is an AF_INET address block: src, dst, src port, dst port.
func inet4(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

func inet6(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

func TestReadProxyV2(t *testing.T) {
	startup := []byte{0, 0, 0, 8, 4, 210, 22, 47}  // an SSLRequest after the header
	tlv := []byte{0x04, 0x00, 0x03, 'a', 'b', 'c'} // PP2_TYPE_NOOP
	tests := []struct {
		desc    string
		in      []byte
		want    string // AddrPort, "" for keep the peer's
		wantErr string // substring
	}{
		{"PROXY IPv4", proxyV2(0x21, 0x11, inet4("10.20.1.2", "10.0.0.5", 50000, 6432)), "10.20.1.2:50000", ""},
		{"PROXY IPv4 with TLVs", proxyV2(0x21, 0x11, append(inet4("10.20.1.2", "10.0.0.5", 1, 2), tlv...)), "10.20.1.2:1", ""},
		{"PROXY IPv6", proxyV2(0x21, 0x21, inet6("fd00:20::7", "fd00::1", 40000, 6432)), "[fd00:20::7]:40000", ""},
		{"PROXY IPv4-mapped IPv6 is unmapped", proxyV2(0x21, 0x21, inet6("::ffff:10.10.3.4", "::ffff:10.0.0.5", 5, 6)), "10.10.3.4:5", ""},
		{"LOCAL keeps the peer", proxyV2(0x20, 0x00, nil), "", ""},
		{"LOCAL ignores an address block", proxyV2(0x20, 0x11, inet4("10.20.1.2", "10.0.0.5", 1, 2)), "", ""},
		{"AF_UNSPEC keeps the peer", proxyV2(0x21, 0x00, nil), "", ""},
		{"AF_UNIX keeps the peer", proxyV2(0x21, 0x31, make([]byte, 216)), "", ""},
		{"largest allowed", proxyV2(0x21, 0x11, append(inet4("10.20.1.2", "10.0.0.5", 1, 2), make([]byte, proxyV2MaxLen-16-12)...)), "10.20.1.2:1", ""},

		{"bad signature", append([]byte("\r\n\r\n\x00\r\nQUIT\r"), 0x21, 0x11, 0, 12), "", "no PROXY protocol v2 signature"},
		{"a Postgres startup instead", append(startup, startup...), "", "no PROXY protocol v2 signature"},
		{"short Postgres startup, then EOF", startup, "", "no PROXY protocol v2 signature"},
		{"v1 text header", []byte("PROXY TCP4 10.20.1.2 10.0.0.5 1 2\r\n"), "", "no PROXY protocol v2 signature"},
		{"empty", nil, "", "truncated"},
		{"truncated signature", proxyV2Sig[:7], "", "truncated"},
		{"truncated addresses", proxyV2(0x21, 0x11, inet4("10.20.1.2", "10.0.0.5", 1, 2))[:20], "", "truncated"},
		{"address block too short", proxyV2(0x21, 0x11, make([]byte, 8)), "", "need 12 bytes"},
		{"IPv6 block too short", proxyV2(0x21, 0x21, make([]byte, 12)), "", "need 36 bytes"},
		{"oversized", proxyV2(0x21, 0x11, make([]byte, proxyV2MaxLen-16+1)), "", "more than 536"},
		{"oversized, refused before reading the body", append(proxyV2(0x21, 0x11, nil)[:14:14], 0xff, 0xff), "", "more than 536"},
		{"version 1 in binary", proxyV2(0x11, 0x11, inet4("10.20.1.2", "10.0.0.5", 1, 2)), "", "version 1"},
		{"unknown command", proxyV2(0x22, 0x11, inet4("10.20.1.2", "10.0.0.5", 1, 2)), "", "unknown PROXY protocol command"},
		{"unknown family", proxyV2(0x21, 0x41, make([]byte, 12)), "", "unsupported PROXY protocol family"},
		{"UDP", proxyV2(0x21, 0x12, inet4("10.20.1.2", "10.0.0.5", 1, 2)), "", "unsupported PROXY protocol family"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			in := append(append([]byte{}, tt.in...), startup...)
			if tt.desc == "empty" || strings.HasPrefix(tt.desc, "truncated") || strings.HasPrefix(tt.desc, "short") {
				in = tt.in // the stream ends inside the header
			}
			r := bufio.NewReaderSize(bytes.NewReader(in), clientReadBuf)
			got, err := readProxyV2(r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("readProxyV2 = %v, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readProxyV2: %v", err)
			}
			gotS := ""
			if got.IsValid() {
				gotS = got.String()
			}
			if gotS != tt.want {
				t.Errorf("readProxyV2 = %q, want %q", gotS, tt.want)
			}
			// The header is consumed exactly: the startup packet follows.
			rest := make([]byte, len(startup)+1)
			n, _ := r.Read(rest)
			if !bytes.Equal(rest[:n], startup) {
				t.Errorf("after the header: % x, want % x", rest[:n], startup)
			}
		})
	}
}

func TestTrustsProxyHeader(t *testing.T) {
	from := []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32"), netip.MustParsePrefix("fd00::/64")}
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"10.0.0.5", true},
		{"::ffff:10.0.0.5", true},
		{"10.0.0.6", false},
		{"fd00::9", true},
		{"fd00:0:0:1::9", false},
		{"", false},
	} {
		var a netip.Addr
		if tt.addr != "" {
			a = netip.MustParseAddr(tt.addr)
		}
		if got := trustsProxyHeader(from, a); got != tt.want {
			t.Errorf("trustsProxyHeader(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if trustsProxyHeader(nil, netip.MustParseAddr("10.0.0.5")) {
		t.Error("trusted with no proxy_protocol_from")
	}
}

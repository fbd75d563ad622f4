package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
)

// PROXY protocol version 2 (HAProxy's proxy-protocol.txt, section 2.2): a
// load balancer in front of pgveil opens each connection with a binary
// header naming the real client. pgveil reads it only from peers listed in
// [server] proxy_protocol_from; anyone else's bytes are a Postgres startup.

// proxyV2Sig opens every version 2 header.
var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

const (
	proxyV2HeaderLen = 16  // signature, version/command, family, length
	proxyV2MaxLen    = 536 // the whole header, TLVs included: the spec's bound
)

// readProxyV2 reads one PROXY protocol v2 header from r. For the PROXY
// command over TCP (AF_INET or AF_INET6) it returns the source address the
// header names. For LOCAL (the balancer's own health checks), AF_UNSPEC and
// AF_UNIX it returns the zero AddrPort: the connection keeps its peer
// address. Any other header, a short one or one longer than 536 bytes is an
// error, and r is then in no state to be read further.
func readProxyV2(r *bufio.Reader) (netip.AddrPort, error) {
	hdr, err := r.Peek(proxyV2HeaderLen)
	if err != nil {
		if len(hdr) > 0 && !bytes.HasPrefix(proxyV2Sig, hdr[:min(len(hdr), len(proxyV2Sig))]) {
			return netip.AddrPort{}, errors.New("no PROXY protocol v2 signature")
		}
		return netip.AddrPort{}, fmt.Errorf("truncated PROXY protocol header: %w", err)
	}
	if !bytes.Equal(hdr[:len(proxyV2Sig)], proxyV2Sig) {
		return netip.AddrPort{}, errors.New("no PROXY protocol v2 signature")
	}
	verCmd, fam := hdr[12], hdr[13]
	n := proxyV2HeaderLen + int(binary.BigEndian.Uint16(hdr[14:16]))
	if verCmd>>4 != 2 {
		return netip.AddrPort{}, fmt.Errorf("PROXY protocol version %d, want 2", verCmd>>4)
	}
	if n > proxyV2MaxLen {
		return netip.AddrPort{}, fmt.Errorf("PROXY protocol header of %d bytes, more than %d", n, proxyV2MaxLen)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return netip.AddrPort{}, fmt.Errorf("truncated PROXY protocol header: %w", err)
	}
	body := buf[proxyV2HeaderLen:]
	switch verCmd & 0x0f {
	case 0x0: // LOCAL: the balancer speaking for itself; ignore the rest
		return netip.AddrPort{}, nil
	case 0x1: // PROXY
	default:
		return netip.AddrPort{}, fmt.Errorf("unknown PROXY protocol command %#x", verCmd&0x0f)
	}
	switch fam {
	case 0x00, 0x31: // AF_UNSPEC, or AF_UNIX over a stream: no usable address
		return netip.AddrPort{}, nil
	case 0x11: // AF_INET, STREAM
		if len(body) < 12 {
			return netip.AddrPort{}, fmt.Errorf("PROXY protocol AF_INET addresses need 12 bytes, got %d", len(body))
		}
		src := netip.AddrFrom4([4]byte(body[0:4]))
		return netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[8:10])), nil
	case 0x21: // AF_INET6, STREAM
		if len(body) < 36 {
			return netip.AddrPort{}, fmt.Errorf("PROXY protocol AF_INET6 addresses need 36 bytes, got %d", len(body))
		}
		src := netip.AddrFrom16([16]byte(body[0:16])).Unmap()
		return netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[32:34])), nil
	default:
		// Datagram transports and unassigned families: the spec says to
		// reject them, and a Postgres connection is a stream anyway.
		return netip.AddrPort{}, fmt.Errorf("unsupported PROXY protocol family/transport %#02x", fam)
	}
}

// trustsProxyHeader reports whether peer is one of the load balancers in
// [server] proxy_protocol_from.
func trustsProxyHeader(from []netip.Prefix, peer netip.Addr) bool {
	if !peer.IsValid() {
		return false
	}
	peer = peer.Unmap().WithZone("")
	return slices.ContainsFunc(from, func(p netip.Prefix) bool { return p.Contains(peer) })
}

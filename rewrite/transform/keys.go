package transform

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"hash"
	"strings"
	"sync"
)

// HKDF info strings, one per purpose. Changing one changes every masked
// value of that transform.
const (
	infoHash      = "pgveil transform hash v1"
	infoToken     = "pgveil transform token aes-siv-256 v1"
	infoPseudonym = "pgveil transform pseudonym v1"
	infoNoise     = "pgveil transform noise v1"
)

// TokenPrefix starts every token produced by the token transform.
const TokenPrefix = "tok_"

var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Keys are derived from the 32-byte token key (HKDF-SHA256, distinct info
// strings per purpose).
type Keys struct {
	hash, pseudo, noise macPool
	siv                 *siv
}

// NewKeys derives the transform keys from the 32-byte master token key.
func NewKeys(master []byte) (*Keys, error) {
	if len(master) != 32 {
		return nil, errors.New("transform: token key must be 32 bytes")
	}
	derive := func(info string, n int) ([]byte, error) {
		return hkdf.Key(sha256.New, master, nil, info, n)
	}
	k := new(Keys)
	for _, p := range []struct {
		pool *macPool
		info string
	}{{&k.hash, infoHash}, {&k.pseudo, infoPseudonym}, {&k.noise, infoNoise}} {
		key, err := derive(p.info, 32)
		if err != nil {
			return nil, err
		}
		p.pool.init(key)
	}
	tk, err := derive(infoToken, 64)
	if err != nil {
		return nil, err
	}
	if k.siv, err = newSIV(tk); err != nil {
		return nil, err
	}
	return k, nil
}

// Reveal inverts the token transform: it returns the canonical text of the
// value that produced token. It fails when token was not made with these
// keys or was altered.
func (k *Keys) Reveal(token string) (string, error) {
	s, ok := strings.CutPrefix(token, TokenPrefix)
	if !ok {
		return "", errors.New("transform: not a token")
	}
	raw, err := tokenEncoding.DecodeString(s)
	if err != nil {
		return "", errors.New("transform: malformed token")
	}
	p, err := k.siv.open(nil, raw)
	if err != nil {
		return "", err
	}
	return string(p), nil
}

// macState is pooled HMAC-SHA256 state plus scratch buffers, so that
// Apply does not allocate.
type macState struct {
	mac      hash.Hash
	sum      []byte // cap 32
	scratch  []byte // canonical text etc.
	scratch2 []byte
}

type macPool struct {
	key  []byte
	pool sync.Pool
}

func (p *macPool) init(key []byte) {
	p.key = key
	p.pool.New = func() any {
		return &macState{mac: hmac.New(sha256.New, p.key), sum: make([]byte, 0, 32), scratch: make([]byte, 0, 64)}
	}
}

func (p *macPool) get() *macState {
	s := p.pool.Get().(*macState)
	s.mac.Reset()
	return s
}

func (p *macPool) put(s *macState) {
	if cap(s.scratch) > 64<<10 {
		s.scratch = make([]byte, 0, 64)
	}
	p.pool.Put(s)
}

// sumOf returns HMAC(key, msg) in s.sum.
func (s *macState) sumOf(msg []byte) []byte {
	s.mac.Reset()
	s.mac.Write(msg)
	s.sum = s.mac.Sum(s.sum[:0])
	return s.sum
}

// siv implements AES-SIV (RFC 5297) with AES-CMAC and AES-CTR. The token
// transform uses a 64-byte key (AES-256) and no associated data; the
// general form is kept for the RFC test vectors.
type siv struct {
	mac, ctr cipher.Block
	k1, k2   [16]byte // CMAC subkeys of mac
	pool     sync.Pool
}

type sivScratch struct {
	d, t, x [16]byte
	ks      [16]byte
	ctr     [16]byte
	out     []byte
	canon   []byte
}

func newSIV(key []byte) (*siv, error) {
	if len(key) != 32 && len(key) != 48 && len(key) != 64 {
		return nil, errors.New("transform: AES-SIV key must be 32, 48 or 64 bytes")
	}
	h := len(key) / 2
	mac, err := aes.NewCipher(key[:h])
	if err != nil {
		return nil, err
	}
	ctr, err := aes.NewCipher(key[h:])
	if err != nil {
		return nil, err
	}
	s := &siv{mac: mac, ctr: ctr}
	var l [16]byte
	mac.Encrypt(l[:], l[:])
	s.k1 = dbl(l)
	s.k2 = dbl(s.k1)
	s.pool.New = func() any { return &sivScratch{out: make([]byte, 0, 128), canon: make([]byte, 0, 64)} }
	return s, nil
}

func (s *siv) put(sc *sivScratch) {
	if cap(sc.out) > 64<<10 || cap(sc.canon) > 64<<10 {
		sc.out, sc.canon = make([]byte, 0, 128), make([]byte, 0, 64)
	}
	s.pool.Put(sc)
}

// dbl is multiplication by x in GF(2^128) (RFC 5297 section 2.3).
func dbl(b [16]byte) [16]byte {
	var o [16]byte
	carry := b[0] >> 7
	for i := 0; i < 15; i++ {
		o[i] = b[i]<<1 | b[i+1]>>7
	}
	o[15] = b[15] << 1
	if carry != 0 {
		o[15] ^= 0x87
	}
	return o
}

// cmac computes AES-CMAC (RFC 4493) of msg into out. If xorEnd is non-nil
// (len(msg) >= 16), it is XORed onto the last 16 bytes of msg first
// (the "xorend" of RFC 5297 S2V), without modifying msg.
func (s *siv) cmac(out *[16]byte, msg []byte, xorEnd *[16]byte, x *[16]byte) {
	*x = [16]byte{}
	n := len(msg)
	tail := n - 16 // start of xorEnd region
	nb := (n + 15) / 16
	if nb == 0 {
		nb = 1
	}
	for i := 0; i < nb; i++ {
		var blk [16]byte
		lo := i * 16
		hi := min(lo+16, n)
		copy(blk[:], msg[lo:hi])
		if xorEnd != nil {
			for j := lo; j < hi; j++ {
				if j >= tail {
					blk[j-lo] ^= xorEnd[j-tail]
				}
			}
		}
		if i == nb-1 {
			if hi-lo == 16 {
				for j := range blk {
					blk[j] ^= s.k1[j]
				}
			} else {
				blk[hi-lo] = 0x80
				for j := range blk {
					blk[j] ^= s.k2[j]
				}
			}
		}
		for j := range blk {
			x[j] ^= blk[j]
		}
		s.mac.Encrypt(x[:], x[:])
	}
	*out = *x
}

// s2v computes S2V (RFC 5297 section 2.4) over ad... and p into sc.t.
func (s *siv) s2v(sc *sivScratch, ad [][]byte, p []byte) [16]byte {
	var zero [16]byte
	s.cmac(&sc.d, zero[:], nil, &sc.x)
	for _, a := range ad {
		var c [16]byte
		s.cmac(&c, a, nil, &sc.x)
		sc.d = dbl(sc.d)
		for j := range c {
			sc.d[j] ^= c[j]
		}
	}
	var v [16]byte
	if len(p) >= 16 {
		s.cmac(&v, p, &sc.d, &sc.x)
	} else {
		t := dbl(sc.d)
		for j := range p {
			t[j] ^= p[j]
		}
		t[len(p)] ^= 0x80
		s.cmac(&v, t[:], nil, &sc.x)
	}
	return v
}

// xorCTR XORs src with the AES-CTR keystream started at counter q
// (bits 31 and 63 cleared) and appends the result to dst.
func (s *siv) xorCTR(sc *sivScratch, dst []byte, v [16]byte, src []byte) []byte {
	sc.ctr = v
	sc.ctr[8] &= 0x7f
	sc.ctr[12] &= 0x7f
	for len(src) > 0 {
		s.ctr.Encrypt(sc.ks[:], sc.ctr[:])
		n := min(16, len(src))
		for j := 0; j < n; j++ {
			dst = append(dst, src[j]^sc.ks[j])
		}
		src = src[n:]
		for j := 15; j >= 0; j-- {
			sc.ctr[j]++
			if sc.ctr[j] != 0 {
				break
			}
		}
	}
	return dst
}

// seal appends V || C to dst.
func (s *siv) seal(sc *sivScratch, dst []byte, ad [][]byte, p []byte) []byte {
	v := s.s2v(sc, ad, p)
	dst = append(dst, v[:]...)
	return s.xorCTR(sc, dst, v, p)
}

var errTokenAuth = errors.New("transform: token does not verify with this key")

// open decrypts V || C with associated data ad and appends the plaintext
// to dst.
func (s *siv) open(ad [][]byte, vc []byte) ([]byte, error) {
	if len(vc) < 16 {
		return nil, errTokenAuth
	}
	sc := s.pool.Get().(*sivScratch)
	defer s.put(sc)
	var v [16]byte
	copy(v[:], vc)
	p := s.xorCTR(sc, nil, v, vc[16:])
	w := s.s2v(sc, ad, p)
	if !hmac.Equal(v[:], w[:]) {
		return nil, errTokenAuth
	}
	return p, nil
}

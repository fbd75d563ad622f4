package proxy

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestBackoffLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	l := newLoginLimiter()
	l.now = func() time.Time { return now }
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")

	for i := range 4 {
		l.failure(a)
		if d := l.delay(a); d != 0 {
			t.Fatalf("after %d failures: delay %v, want 0", i+1, d)
		}
		now = now.Add(time.Second)
	}
	l.failure(a)
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if d := l.delay(a); d != w {
			t.Fatalf("after %d failures: delay %v, want %v", 5+i, d, w)
		}
		l.failure(a)
	}
	if d := l.delay(b); d != 0 {
		t.Errorf("another address is delayed by %v", d)
	}
	// IPv4-mapped IPv6 is the same address.
	if d := l.delay(netip.AddrFrom16(a.As16())); d != 30*time.Second {
		t.Errorf("mapped address: delay %v", d)
	}

	// Success forgets the address.
	l.success(a)
	if d := l.delay(a); d != 0 {
		t.Errorf("after success: delay %v", d)
	}

	// A minute without failures forgets it too.
	for range 5 {
		l.failure(a)
	}
	if l.delay(a) == 0 {
		t.Fatal("not delayed after 5 failures")
	}
	now = now.Add(time.Minute + time.Second)
	if d := l.delay(a); d != 0 {
		t.Errorf("a minute later: delay %v", d)
	}
	if len(l.addrs) != 0 || l.lru.Len() != 0 {
		t.Errorf("expired entries kept: %d, %d", len(l.addrs), l.lru.Len())
	}
}

// TestBackoffSlidingWindow: only failures within one window count
// towards the threshold.
func TestBackoffSlidingWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	l := newLoginLimiter()
	l.now = func() time.Time { return now }
	a := netip.MustParseAddr("2001:db8::1")
	for range 20 {
		l.failure(a) // one every 20s: at most 4 within any minute
		now = now.Add(20 * time.Second)
		if d := l.delay(a); d != 0 {
			t.Fatalf("delayed by %v with failures 20s apart", d)
		}
	}
}

func TestBackoffCapacity(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	l := newLoginLimiter()
	l.now = func() time.Time { return now }
	l.capacity = 100
	l.threshold = 1
	for i := range 250 {
		l.failure(netip.MustParseAddr(fmt.Sprintf("10.0.%d.%d", i/256, i%256)))
		now = now.Add(time.Millisecond)
	}
	if len(l.addrs) != 100 || l.lru.Len() != 100 {
		t.Fatalf("remembered %d/%d addresses, want 100", len(l.addrs), l.lru.Len())
	}
	if d := l.delay(netip.MustParseAddr("10.0.0.0")); d != 0 {
		t.Errorf("oldest address still remembered: delay %v", d)
	}
	if d := l.delay(netip.MustParseAddr("10.0.0.249")); d != time.Second {
		t.Errorf("newest address: delay %v, want 1s", d)
	}
}

func TestIsLoginFailure(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fatal(SideClient, codeInvalidPassword, "password authentication failed", nil), true},
		{fatal(SideClient, codeInvalidAuthorization, "certificate authentication failed", nil), true},
		{fmt.Errorf("wrapped: %w", fatal(SideClient, codeInvalidPassword, "x", nil)), true},
		{fatal(SideClient, codeProtocolViolation, "authentication failed", nil), false},
		{fatal(SideUpstream, codeConnectionFailure, "upstream", nil), false},
		{fatal(SideClient, codeQueryCanceled, "timeout", nil), false},
		{nil, false},
	} {
		if got := isLoginFailure(c.err); got != c.want {
			t.Errorf("isLoginFailure(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

package proxy

import (
	"container/list"
	"errors"
	"net/netip"
	"sync"
	"time"
)

// Defaults of the per-address login backoff.
const (
	defaultBackoffThreshold = 5                // failures within the window before logins are delayed
	defaultBackoffWindow    = time.Minute      // failures older than this are forgotten
	defaultBackoffBase      = time.Second      // first delay
	defaultBackoffMax       = 30 * time.Second // longest delay
	defaultBackoffCapacity  = 10000            // addresses remembered at most
)

// codeQueryCanceled is what PostgreSQL reports when authentication_timeout
// ends a login ("canceling authentication due to timeout").
const codeQueryCanceled = "57014"

// loginLimiter slows down password guessing: once an address has failed
// threshold logins within window, each further login from it waits before
// authentication starts, base doubling with every further failure up to
// max. A successful login forgets the address; so does a window without
// failures. At most capacity addresses are remembered (the least recently
// failing is dropped first), so a flood of addresses costs bounded memory.
//
// The limiter only computes delays: the caller sleeps in its own
// connection goroutine, so one address never holds up another.
type loginLimiter struct {
	threshold int
	window    time.Duration
	base, max time.Duration
	capacity  int
	now       func() time.Time

	mu    sync.Mutex
	addrs map[netip.Addr]*list.Element // of *loginFailures
	lru   list.List                    // front: most recent failure
}

type loginFailures struct {
	addr   netip.Addr
	recent []time.Time // failure times within the window, until threshold is reached
	fails  int         // failures counted; >= threshold means delayed
	last   time.Time   // most recent failure
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{
		threshold: defaultBackoffThreshold,
		window:    defaultBackoffWindow,
		base:      defaultBackoffBase,
		max:       defaultBackoffMax,
		capacity:  defaultBackoffCapacity,
		now:       time.Now,
		addrs:     make(map[netip.Addr]*list.Element),
	}
}

// expireLocked drops remembered addresses whose last failure is older than
// the window. The list is ordered by last failure, so only its back needs
// looking at.
func (l *loginLimiter) expireLocked(now time.Time) {
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		f := e.Value.(*loginFailures)
		if now.Sub(f.last) <= l.window {
			return
		}
		l.lru.Remove(e)
		delete(l.addrs, f.addr)
	}
}

// delay is how long a login from addr must wait before authentication
// starts: 0 unless addr has failed threshold times within the window.
func (l *loginLimiter) delay(addr netip.Addr) time.Duration {
	addr = addr.Unmap()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(l.now())
	e, ok := l.addrs[addr]
	if !ok {
		return 0
	}
	f := e.Value.(*loginFailures)
	if f.fails < l.threshold {
		return 0
	}
	d := l.base
	for i := l.threshold; i < f.fails && d < l.max; i++ {
		d *= 2
	}
	return min(d, l.max)
}

// failure records a failed login (wrong password, unknown user, refused
// certificate) from addr.
func (l *loginLimiter) failure(addr netip.Addr) {
	addr = addr.Unmap()
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.expireLocked(now)
	e, ok := l.addrs[addr]
	if !ok {
		for l.lru.Len() >= l.capacity && l.lru.Len() > 0 {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.addrs, old.Value.(*loginFailures).addr)
		}
		e = l.lru.PushFront(&loginFailures{addr: addr})
		l.addrs[addr] = e
	} else {
		l.lru.MoveToFront(e)
	}
	f := e.Value.(*loginFailures)
	f.last = now
	if f.fails >= l.threshold {
		f.fails++ // already delayed: each failure doubles the delay
		return
	}
	kept := f.recent[:0]
	for _, t := range f.recent {
		if now.Sub(t) <= l.window {
			kept = append(kept, t)
		}
	}
	f.recent = append(kept, now)
	f.fails = len(f.recent)
	if f.fails >= l.threshold {
		f.recent = nil
	}
}

// success forgets addr: its user knew the password.
func (l *loginLimiter) success(addr netip.Addr) {
	addr = addr.Unmap()
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.addrs[addr]; ok {
		l.lru.Remove(e)
		delete(l.addrs, addr)
	}
}

// isLoginFailure reports whether err is an authentication failure that
// counts towards the backoff (28P01, 28000), not a protocol error, a
// timeout or trouble upstream.
func isLoginFailure(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Side == SideClient && (e.Code == codeInvalidPassword || e.Code == codeInvalidAuthorization)
}

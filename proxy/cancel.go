package proxy

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// cancelRegistry maps the BackendKeyData pgveil handed each client to the
// session it belongs to. Clients never see upstream keys: a CancelRequest
// is matched here and re-sent upstream with the upstream key, so a client
// cannot cancel another client's query by guessing upstream PIDs.
type cancelRegistry struct {
	mu       sync.Mutex
	sessions map[uint32]*session // by the process ID pgveil gave the client
}

func (r *cancelRegistry) init() { r.sessions = make(map[uint32]*session) }

// register assigns the session a random process ID and secret key of
// keyLen bytes (4 for protocol 3.0, up to 256 for 3.2).
func (r *cancelRegistry) register(s *session, keyLen int) {
	s.clientKey = make([]byte, keyLen)
	rand.Read(s.clientKey)
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var b [4]byte
		rand.Read(b[:])
		pid := binary.BigEndian.Uint32(b[:]) & 0x7fffffff // positive, like a real PID
		if _, taken := r.sessions[pid]; !taken && pid != 0 {
			s.clientPID = pid
			r.sessions[pid] = s
			return
		}
	}
}

func (r *cancelRegistry) unregister(s *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sessions[s.clientPID] == s {
		delete(r.sessions, s.clientPID)
	}
}

// lookup returns the session whose key matches, or nil. The secret is
// compared in constant time.
func (r *cancelRegistry) lookup(pid uint32, key []byte) *session {
	r.mu.Lock()
	s := r.sessions[pid]
	r.mu.Unlock()
	if s == nil || subtle.ConstantTimeCompare(s.clientKey, key) != 1 {
		return nil
	}
	return s
}

// sendCancel delivers a CancelRequest for the given upstream backend on a
// fresh connection, as PostgreSQL's protocol requires. Errors are only
// logged: PostgreSQL never answers a cancel either.
func sendCancel(ctx context.Context, addr string, pid uint32, key []byte, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	msg := make([]byte, 12, 12+len(key))
	binary.BigEndian.PutUint32(msg[0:], uint32(12+len(key)))
	binary.BigEndian.PutUint32(msg[4:], 80877102)
	binary.BigEndian.PutUint32(msg[8:], pid)
	msg = append(msg, key...)
	if _, err := conn.Write(msg); err != nil {
		return err
	}
	// Wait for the server to close the connection, so the cancel has been
	// processed when we return.
	var b [1]byte
	conn.Read(b[:])
	return nil
}

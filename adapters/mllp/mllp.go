// Package mllp speaks the Minimal Lower Layer Protocol that carries HL7 v2
// over TCP: each message is framed by a start block (0x0B) and an end block
// (0x1C 0x0D). It provides the framing, a server that answers each message
// before reading the next (as MLLP requires), optionally over TLS (mutual
// TLS when the TLS configuration asks for client certificates), and a
// client for tests and benchmarks. It never looks inside a message: the
// Handler (adapters/hl7's Intake in Relais) is told which peer sent it (its
// address and verified client certificate), parses it and writes the reply.
package mllp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	startBlock = 0x0b
	endBlock   = 0x1c
	carriage   = 0x0d
)

// DefaultMaxSize bounds one message (1 MiB).
const DefaultMaxSize = 1 << 20

// DefaultMaxConns bounds the connections served at once: a territory has a
// handful of hospital feeds, each holding one or a few connections.
const DefaultMaxConns = 64

var (
	// ErrTooLarge: a frame exceeded the maximum size.
	ErrTooLarge = errors.New("mllp frame too large")
	// ErrFraming: bytes that are not a valid frame.
	ErrFraming = errors.New("mllp framing error")
)

// Reader reads framed messages.
type Reader struct {
	r       *bufio.Reader
	maxSize int
	// Skipped counts junk bytes discarded before start blocks.
	Skipped int
	// ended: the last frame's end block came without its CR yet, so a CR
	// first thing is that frame's, not junk.
	ended bool
}

// NewReader reads frames of at most maxSize bytes (0 = DefaultMaxSize).
func NewReader(r io.Reader, maxSize int) *Reader {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), maxSize: maxSize}
}

// ReadFrame returns the next message without its framing. Bytes before a
// start block are skipped (a CR right after an end block is the frame's
// own, not junk). The CR after the end block is optional: many senders
// omit it, and waiting for it would leave such a sender without its answer.
// A start block inside a frame is kept as data, so the handler answers
// that frame (with an error) and the connection goes on. io.EOF means the
// peer closed cleanly between frames; io.ErrUnexpectedEOF, a close in the
// middle of one.
func (r *Reader) ReadFrame() ([]byte, error) {
	for first := true; ; first = false {
		b, err := r.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if b == startBlock {
			break
		}
		if !(first && r.ended && b == carriage) {
			r.Skipped++
		}
	}
	r.ended = false
	var buf bytes.Buffer
	for {
		b, err := r.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if b == endBlock {
			// Take the CR when it is already here; never wait for it.
			if r.r.Buffered() > 0 {
				if next, _ := r.r.Peek(1); next[0] == carriage {
					r.r.ReadByte() //nolint:errcheck // buffered
				} else {
					r.ended = false
				}
			} else {
				r.ended = true
			}
			return buf.Bytes(), nil
		}
		if buf.Len() >= r.maxSize {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, r.maxSize)
		}
		buf.WriteByte(b)
	}
}

// WriteFrame writes msg framed.
func WriteFrame(w io.Writer, msg []byte) error {
	buf := make([]byte, 0, len(msg)+3)
	buf = append(buf, startBlock)
	buf = append(buf, msg...)
	buf = append(buf, endBlock, carriage)
	_, err := w.Write(buf)
	return err
}

// Peer is the connection a message came on.
type Peer struct {
	// Addr is the peer's address as the listener saw it.
	Addr net.Addr
	// Certificate is the peer's client certificate, verified against the
	// server's ClientCAs (mutual TLS); nil without one.
	Certificate *x509.Certificate
}

// Handler answers one message; its reply is sent back framed.
type Handler func(ctx context.Context, peer Peer, msg []byte) []byte

// Server accepts MLLP connections.
type Server struct {
	Addr      string
	TLSConfig *tls.Config
	Handler   Handler
	Logger    *zap.Logger
	// MaxSize of one message (default 1 MiB); IdleTimeout closes silent
	// connections (default 10 minutes) and bounds the TLS handshake.
	MaxSize     int
	IdleTimeout time.Duration
	// MaxConns caps the connections served at once (default
	// DefaultMaxConns): one more is closed as soon as it is accepted, so
	// that a flood of peers cannot exhaust the process, and the sender
	// retries later as MLLP senders do.
	MaxConns int

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	ready chan struct{}
	once  sync.Once
}

func (s *Server) init() {
	s.once.Do(func() { s.ready = make(chan struct{}) })
}

// ListenAndServe listens on Addr and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("mllp listen %s: %w", s.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx ends, then closes the listener
// and every connection and waits for their goroutines.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.init()
	if s.Logger == nil {
		s.Logger = zap.NewNop()
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = 10 * time.Minute
	}
	if s.MaxConns <= 0 {
		s.MaxConns = DefaultMaxConns
	}
	if s.TLSConfig != nil {
		ln = tls.NewListener(ln, s.TLSConfig)
	}
	s.mu.Lock()
	s.ln = ln
	s.conns = map[net.Conn]struct{}{}
	s.mu.Unlock()
	close(s.ready)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("mllp accept: %w", err)
		}
		s.mu.Lock()
		full := len(s.conns) >= s.MaxConns
		if !full {
			s.conns[c] = struct{}{}
		}
		s.mu.Unlock()
		if full {
			s.Logger.Warn("mllp: too many connections, closing a new one", zap.String("remote", c.RemoteAddr().String()), zap.Int("max_conns", s.MaxConns))
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// BoundAddr returns the listener address once serving (random-port tests).
func (s *Server) BoundAddr(ctx context.Context) (net.Addr, error) {
	s.init()
	select {
	case <-s.ready:
		return s.ln.Addr(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// handshake completes TLS (when the listener is TLS) before the first
// message, so the handler knows the peer's certificate.
func (s *Server) handshake(ctx context.Context, c net.Conn) (Peer, error) {
	p := Peer{Addr: c.RemoteAddr()}
	tc, ok := c.(*tls.Conn)
	if !ok {
		return p, nil
	}
	hctx, cancel := context.WithTimeout(ctx, s.IdleTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return p, fmt.Errorf("mllp tls handshake: %w", err)
	}
	if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 && len(tc.ConnectionState().VerifiedChains) > 0 {
		p.Certificate = certs[0]
	}
	return p, nil
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	log := s.Logger.With(zap.String("remote", c.RemoteAddr().String()))
	peer, err := s.handshake(ctx, c)
	if err != nil {
		log.Info("mllp: closing connection", zap.Error(err))
		return
	}
	r := NewReader(c, s.MaxSize)
	for {
		c.SetReadDeadline(time.Now().Add(s.IdleTimeout)) //nolint:errcheck
		msg, err := r.ReadFrame()
		if r.Skipped > 0 {
			log.Warn("mllp: skipped bytes before a start block", zap.Int("bytes", r.Skipped))
			r.Skipped = 0
		}
		if err != nil {
			switch {
			case errors.Is(err, io.EOF), ctx.Err() != nil:
			case errors.Is(err, ErrTooLarge), errors.Is(err, ErrFraming):
				log.Warn("mllp: closing connection", zap.Error(err))
			default:
				log.Info("mllp: connection ended", zap.Error(err))
			}
			return
		}
		reply := s.Handler(ctx, peer, msg)
		c.SetWriteDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck
		if err := WriteFrame(c, reply); err != nil {
			log.Info("mllp: write reply", zap.Error(err))
			return
		}
	}
}

// Client sends messages and waits for each reply.
type Client struct {
	c  net.Conn
	r  *Reader
	mu sync.Mutex
}

// Dial connects to an MLLP server (over TLS when cfg is not nil).
func Dial(ctx context.Context, addr string, cfg *tls.Config) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mllp dial %s: %w", addr, err)
	}
	if cfg != nil {
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("mllp tls %s: %w", addr, err)
		}
		c = tc
	}
	return &Client{c: c, r: NewReader(c, 0)}, nil
}

// Send writes msg and returns the reply.
func (cl *Client) Send(ctx context.Context, msg []byte) ([]byte, error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		cl.c.SetDeadline(dl) //nolint:errcheck
	} else {
		cl.c.SetDeadline(time.Time{}) //nolint:errcheck
	}
	if err := WriteFrame(cl.c, msg); err != nil {
		return nil, fmt.Errorf("mllp send: %w", err)
	}
	reply, err := cl.r.ReadFrame()
	if err != nil {
		return nil, fmt.Errorf("mllp reply: %w", err)
	}
	return reply, nil
}

// Close closes the connection.
func (cl *Client) Close() error { return cl.c.Close() }

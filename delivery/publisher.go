package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	ledgerjs "github.com/relais-health/relais/infra/ledger/jetstream"
)

// The publisher lease: of all the Relais instances on one NATS cluster,
// only the holder of this key publishes on relais.alerts.<recipient>. Every
// instance folds the same ledger and so sees the same changes; the others
// keep the recent ones and, when they take the lease over, publish those
// after the position the last holder recorded.
const (
	// LeaseBucket holds the lease key (a bucket with a TTL: a holder that
	// stops renewing loses it when its entry ages out).
	LeaseBucket = "RELAIS_PUBLISHER_LEASE"
	// ProgressBucket holds the last ledger position whose changes were all
	// published (no TTL: it outlives every holder).
	ProgressBucket = "RELAIS_PUBLISHER"
	leaseKey       = "alerts"
	progressKey    = "alerts-published"
	// HeaderMsgID carries an alert change's id (<alert>-<seq>) on its NATS
	// message, so a partner can drop the rare duplicate published around a
	// takeover.
	HeaderMsgID = "Nats-Msg-Id"
	// maxPending bounds the changes an instance keeps for a takeover.
	maxPending = 20000
)

// DefaultLeaseTTL is how long a lease outlives its holder's last renewal.
const DefaultLeaseTTL = 6 * time.Second

// pending is one change waiting to be published (or to be seen published
// by the holder).
type pending struct {
	pos     uint64
	subject string
	id      string
	data    []byte
	live    bool // notified after GoLive
}

// publisher elects one instance and publishes from the ledger's order.
type publisher struct {
	nc  *nats.Conn
	pub Publisher
	id  string // this instance
	ttl time.Duration
	rep int
	log *zap.Logger

	mu      sync.Mutex
	buf     []pending
	wake    chan struct{}
	dropped uint64 // changes pushed out of buf before anyone published them
	lastIn  time.Time

	holdingNow atomic.Bool

	// owned by Run's goroutine
	holding   bool
	leaseRev  uint64
	renewedAt time.Time
	pubPos    uint64 // last position with a change published by us
	donePos   uint64 // last position all of whose changes were published
	savedPos  uint64
}

// Option configures a Fanout.
type Option func(*Fanout)

// WithReplicas is the replica count of the publisher's KV buckets (3 on a
// cluster).
func WithReplicas(n int) Option { return func(f *Fanout) { f.replicas = n } }

// WithLeaseTTL sets how long the publisher lease outlives its holder (the
// longest a takeover waits); the holder renews it four times per TTL.
func WithLeaseTTL(d time.Duration) Option { return func(f *Fanout) { f.ttl = d } }

// WithInstance names this instance in the lease (default: the NATS client
// id and a random suffix).
func WithInstance(id string) Option { return func(f *Fanout) { f.instance = id } }

func (p *publisher) push(x pending) {
	p.mu.Lock()
	if len(p.buf) >= maxPending {
		p.buf = p.buf[1:]
		p.dropped++
	}
	p.buf = append(p.buf, x)
	p.lastIn = time.Now()
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Holding reports whether this instance holds the publisher lease now.
func (f *Fanout) Holding() bool {
	if f.p == nil {
		return false
	}
	return f.p.holdingNow.Load()
}

// Run elects the publisher and, while this instance holds the lease,
// publishes every change on its recipient's subject in ledger order. It
// waits for GoLive and returns when ctx ends (after recording its progress
// and releasing the lease, so another instance takes over at once).
func (f *Fanout) Run(ctx context.Context) error {
	p := f.p
	if p == nil {
		<-ctx.Done()
		return nil
	}
	select {
	case <-f.liveCh:
	case <-ctx.Done():
		return nil
	}
	// The buckets may be out of reach for a while (a cluster electing its
	// leaders): keep trying, the rest of Relais runs meanwhile.
	var lease, progress jetstream.KeyValue
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		var err error
		if lease, progress, err = p.buckets(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		p.log.Warn("alert publisher buckets not open, retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
	tick := time.NewTicker(p.ttl / 4)
	defer tick.Stop()
	defer p.release(lease, progress)
	p.step(ctx, lease, progress)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			p.step(ctx, lease, progress)
		case <-p.wake:
			p.drain()
		}
	}
}

// buckets opens (or creates) the lease and progress buckets without ever
// changing an existing bucket's configuration.
func (p *publisher) buckets(ctx context.Context) (jetstream.KeyValue, jetstream.KeyValue, error) {
	js, err := jetstream.New(p.nc)
	if err != nil {
		return nil, nil, fmt.Errorf("alert publisher: %w", err)
	}
	open := func(cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
		kv, m, err := ledgerjs.EnsureKeyValue(ctx, js, cfg)
		if err != nil {
			return nil, fmt.Errorf("alert publisher bucket %s: %w", cfg.Bucket, err)
		}
		if m != nil {
			p.log.Warn("replicas mismatch: " + m.String())
		}
		return kv, nil
	}
	lease, err := open(jetstream.KeyValueConfig{Bucket: LeaseBucket, TTL: p.ttl, Storage: jetstream.FileStorage, Replicas: p.rep,
		Description: "which Relais instance publishes relais.alerts.<recipient>"})
	if err != nil {
		return nil, nil, err
	}
	progress, err := open(jetstream.KeyValueConfig{Bucket: ProgressBucket, Storage: jetstream.FileStorage, Replicas: p.rep,
		Description: "last ledger position whose alert changes were published"})
	if err != nil {
		return nil, nil, err
	}
	return lease, progress, nil
}

// step renews or takes the lease, records progress, and trims the changes
// kept for a takeover.
func (p *publisher) step(ctx context.Context, lease, progress jetstream.KeyValue) {
	op, cancel := context.WithTimeout(ctx, p.ttl/2)
	defer cancel()
	if p.holding {
		rev, err := lease.Update(op, leaseKey, []byte(p.id), p.leaseRev)
		switch {
		case err == nil:
			p.leaseRev, p.renewedAt = rev, time.Now()
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyNotFound):
			p.log.Warn("alert publisher lease lost", zap.String("instance", p.id), zap.Error(err))
			p.setHolding(false)
		default:
			p.log.Warn("alert publisher lease not renewed", zap.String("instance", p.id), zap.Error(err))
		}
	} else {
		rev, err := lease.Create(op, leaseKey, []byte(p.id))
		if err == nil {
			p.leaseRev, p.renewedAt = rev, time.Now()
			p.takeOver(op, progress)
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			p.log.Debug("alert publisher lease not taken", zap.Error(err))
		}
	}
	if !p.holding {
		p.follow(op, progress)
		return
	}
	p.drain()
	p.mu.Lock()
	quiet := len(p.buf) == 0 && time.Since(p.lastIn) >= p.ttl/4
	p.mu.Unlock()
	if quiet && p.pubPos > p.donePos {
		// Every change of one event is notified in one go, so once nothing
		// has come for a tick the last published position is complete.
		p.donePos = p.pubPos
	}
	if p.donePos > p.savedPos {
		if _, err := progress.Put(op, progressKey, []byte(strconv.FormatUint(p.donePos, 10))); err != nil {
			p.log.Warn("alert publisher progress not recorded", zap.Uint64("position", p.donePos), zap.Error(err))
			return
		}
		p.savedPos = p.donePos
	}
}

// takeOver starts publishing after the last holder's recorded position.
// With no record yet, only live changes are published (history stays
// history, as before a restart).
func (p *publisher) takeOver(ctx context.Context, progress jetstream.KeyValue) {
	from, known, err := readProgress(ctx, progress)
	if err != nil {
		// Without the record a takeover could re-publish or skip: give the
		// lease back and try again at the next tick.
		p.log.Warn("alert publisher progress unreadable, lease not used", zap.Error(err))
		p.setHolding(false)
		return
	}
	p.mu.Lock()
	if !known {
		for _, x := range p.buf {
			if !x.live && x.pos > from {
				from = x.pos
			}
		}
	}
	p.mu.Unlock()
	p.pubPos, p.donePos, p.savedPos = from, from, from
	p.setHolding(true)
	p.log.Info("alert publisher elected", zap.String("instance", p.id), zap.Uint64("after_position", from))
}

// follow drops the changes the holder has recorded as published.
func (p *publisher) follow(ctx context.Context, progress jetstream.KeyValue) {
	done, known, err := readProgress(ctx, progress)
	if err != nil || !known {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	i := 0
	for i < len(p.buf) && p.buf[i].pos <= done {
		i++
	}
	p.buf = p.buf[i:]
}

func readProgress(ctx context.Context, progress jetstream.KeyValue) (uint64, bool, error) {
	e, err := progress.Get(ctx, progressKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	n, err := strconv.ParseUint(string(e.Value()), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("alert publisher progress %q: %w", e.Value(), err)
	}
	return n, true, nil
}

// drain publishes what is buffered, while the lease is fresh: a holder that
// could not renew for half a TTL stops, since another may have taken over.
func (p *publisher) drain() {
	if !p.holding {
		return
	}
	for {
		if time.Since(p.renewedAt) > p.ttl/2 {
			return
		}
		p.mu.Lock()
		if len(p.buf) == 0 {
			p.mu.Unlock()
			return
		}
		x := p.buf[0]
		p.mu.Unlock()
		if x.pos > p.pubPos || x.pos == p.pubPos && p.pubPos > p.donePos {
			m := &nats.Msg{Subject: x.subject, Data: x.data, Header: nats.Header{}}
			m.Header.Set(HeaderMsgID, x.id)
			if err := p.pub.PublishMsg(m); err != nil {
				p.log.Warn("publish alert on nats", zap.String("subject", x.subject), zap.Error(err))
				return
			}
			if x.pos > p.pubPos {
				// A new position: every change of the one before was published.
				p.donePos = p.pubPos
				p.pubPos = x.pos
			}
		}
		p.mu.Lock()
		if len(p.buf) > 0 {
			p.buf = p.buf[1:]
		}
		p.mu.Unlock()
	}
}

// release records progress and gives the lease back on a clean stop.
func (p *publisher) release(lease, progress jetstream.KeyValue) {
	if !p.holding {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.drain()
	if p.pubPos > p.savedPos {
		if _, err := progress.Put(ctx, progressKey, []byte(strconv.FormatUint(p.pubPos, 10))); err != nil {
			p.log.Warn("alert publisher progress not recorded at stop", zap.Error(err))
		}
	}
	if err := lease.Delete(ctx, leaseKey, jetstream.LastRevision(p.leaseRev)); err != nil {
		p.log.Debug("alert publisher lease not released", zap.Error(err))
	}
	p.setHolding(false)
}

func (p *publisher) setHolding(v bool) {
	p.holding = v
	p.holdingNow.Store(v)
}

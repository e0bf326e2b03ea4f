package hl7

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/relais-health/relais/adapters/mllp"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
)

// BenchmarkIntake measures messages/s over real TCP MLLP, on one
// connection and on 16: a raw MLLP echo (the floor), parse → ACK without
// the ledger, and the whole intake recording each message on an
// in-process JetStream (each message a new visit). Figures and command in
// docs/BENCHMARKS.md.
func BenchmarkIntake(b *testing.B) {
	a04 := string(sample(b, "a04.hl7"))
	parseACK := func(_ context.Context, _ mllp.Peer, raw []byte) []byte {
		a, err := ParseADT(raw, configured)
		return BuildACK(a.Header, AA, "", err, ackTime)
	}
	echo := func(_ context.Context, _ mllp.Peer, raw []byte) []byte { return raw }
	for _, conns := range []int{1, 16} {
		b.Run(fmt.Sprintf("echo/conns=%d", conns), func(b *testing.B) { benchMLLP(b, echo, conns, a04) })
		b.Run(fmt.Sprintf("parse-ack/conns=%d", conns), func(b *testing.B) { benchMLLP(b, parseACK, conns, a04) })
		b.Run(fmt.Sprintf("record/conns=%d", conns), func(b *testing.B) {
			l := jstest.Ledger(b)
			h := &Intake{S: newService(b, l, configured), Facilities: configured, Log: zap.NewNop()}
			handler := func(ctx context.Context, p mllp.Peer, raw []byte) []byte {
				return h.Handle(ctx, Peer{Addr: p.Addr, Certificate: p.Certificate}, raw)
			}
			benchMLLP(b, handler, conns, a04)
		})
	}
}

var benchSeq atomic.Int64

func benchMLLP(b *testing.B, handler mllp.Handler, conns int, base string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &mllp.Server{Handler: handler, MaxConns: 64}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	clients := make([]*mllp.Client, conns)
	for i := range clients {
		if clients[i], err = mllp.Dial(ctx, ln.Addr().String(), nil); err != nil {
			b.Fatal(err)
		}
		defer clients[i].Close()
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				n := benchSeq.Add(1)
				msg := strings.Replace(strings.Replace(base, "|1001|", fmt.Sprintf("|b%d|", n), 1), "|V100|", fmt.Sprintf("|BV%d|", n), 1)
				reply, err := c.Send(ctx, []byte(msg))
				if err != nil || !strings.Contains(string(reply), "MSA|AA|") && !strings.HasPrefix(string(reply), "MSH|^~\\&|URGENCE") {
					b.Errorf("reply %q, %v", reply, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

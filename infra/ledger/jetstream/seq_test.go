package jetstream

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-health/relais/infra/natsembed"
)

func TestStreamSeqReadsBothAckLayouts(t *testing.T) {
	tests := []struct {
		reply string
		want  uint64
		ok    bool
	}{
		{"$JS.ACK.RELAIS.c1.1.42.7.1700000000000000000.3", 42, true},
		{"$JS.ACK._.ACCHASH.RELAIS.c1.1.42.7.1700000000000000000.3.rnd", 42, true},
		{"$JS.ACK.hub.ACCHASH.RELAIS.c1.2.9001.8.1700000000000000000.0", 9001, true},
		{"$JS.ACK.RELAIS.c1.1.x.7.1700000000000000000.3", 0, false},
		{"$JS.ACK.RELAIS.c1.1.0.7.1700000000000000000.3", 0, false},
		{"$JS.ACK.RELAIS.c1.1.42.7.1700000000000000000", 0, false},
		{"$JS.ACK.a.b.RELAIS.c1.1.42.7.1700000000000000000", 0, false},
		{"_INBOX.abc.1.2.3.4.5.6.7", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := streamSeq(tt.reply)
		if got != tt.want || ok != tt.ok {
			t.Errorf("streamSeq(%q) = %d, %v; want %d, %v", tt.reply, got, ok, tt.want, tt.ok)
		}
	}
}

// On real messages from a real server, streamSeq reads what nats.go's
// Metadata reads.
func TestStreamSeqAgreesWithMetadata(t *testing.T) {
	ctx := context.Background()
	srv, err := natsembed.Start(natsembed.Config{DataDir: t.TempDir(), Port: -1, NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := js.Publish(ctx, fmt.Sprintf("s.%d", i%7), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.OrderedConsumer(ctx, "S", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"s.>"}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 10})
	if err != nil {
		t.Fatal(err)
	}
	it, err := cons.Messages()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	for range 41 {
		m, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		meta, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := streamSeq(m.Reply()); !ok || got != meta.Sequence.Stream {
			t.Fatalf("streamSeq(%q) = %d, %v; Metadata says %d", m.Reply(), got, ok, meta.Sequence.Stream)
		}
	}
}

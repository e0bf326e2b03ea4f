package jetstream

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The fsync rule on what a cluster's servers said in their VARZ.
func TestJudgeServersSyncSetting(t *testing.T) {
	always := func(name string) serverVarz {
		return serverVarz{Name: name, SyncAlways: true, SyncInterval: 2 * time.Minute, ClusterSize: 3}
	}
	lax := func(name string) serverVarz {
		return serverVarz{Name: name, SyncInterval: 2 * time.Minute, ClusterSize: 3}
	}
	for _, tc := range []struct {
		name       string
		servers    []serverVarz
		leader     string
		want       string // in the refusal; "" accepts
		unreadable bool
	}{
		{"every server fsyncs: accepted", []serverVarz{always("n1"), always("n2"), always("n3")}, "", "", false},
		{"one server of three does not fsync: refused, naming it", []serverVarz{always("n1"), lax("n2"), always("n3")}, "", "n2 (sync_interval 2m0s)", false},
		{"two of three answered before the stream exists: refused, cannot tell", []serverVarz{always("n1"), always("n2")}, "", "2 of the cluster's 3", true},
		{"the stream's leader fsyncs, another does not: accepted (an R1 stream lives on its leader)", []serverVarz{always("n1"), lax("n2")}, "n1", "", false},
		{"the stream's leader does not fsync: refused", []serverVarz{lax("n1"), always("n2"), always("n3")}, "n1", "NATS server n1", false},
		{"the stream's leader did not answer: refused, cannot tell", []serverVarz{always("n2"), always("n3")}, "n1", "n1, which holds the ledger stream", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := judge(tc.servers, tc.leader)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var nd *NotDurableError
			if !errors.As(err, &nd) || !strings.Contains(err.Error(), tc.want) || nd.Unreadable != tc.unreadable {
				t.Fatalf("got %v (unreadable %v), want a refusal saying %q (unreadable %v)", err, nd != nil && nd.Unreadable, tc.want, tc.unreadable)
			}
		})
	}
}

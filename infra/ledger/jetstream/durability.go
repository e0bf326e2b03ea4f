package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-health/relais/infra/ledger"
)

// varzSubject asks every server of a cluster for its VARZ (answered to the
// system account only).
const varzSubject = "$SYS.REQ.SERVER.PING.VARZ"

// StrictCheck says what CheckStrict may use.
type StrictCheck struct {
	// Replicas the ledger stream is created with when it does not exist
	// yet (an existing stream's own replicas count instead).
	Replicas int
	// System is a connection to the servers' system account, which alone
	// may read their VARZ; nil when none was given.
	System *nats.Conn
	// Timeout bounds the VARZ gathering (default 2s).
	Timeout time.Duration
}

// CheckStrict tells whether appends on the external server behind nc are
// durable when acknowledged, the rule of strict durability there:
//
//   - the ledger stream has 3 or more replicas (or will be created with 3):
//     JetStream acknowledges an append once a majority of the replicas
//     stored it, so it survives the loss of any one node; or
//   - every server that holds (or may be given) the ledger stream runs
//     JetStream with sync_interval: always (its VARZ says sync_always),
//     read through the system account.
//
// It returns how the rule is met, for the log; otherwise a
// *NotDurableError (ErrServerNotDurable) saying why: the servers do not
// fsync, or their setting could not be read. It changes nothing.
func CheckStrict(ctx context.Context, nc *nats.Conn, c StrictCheck) (string, error) {
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Second
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return "", fmt.Errorf("%w: jetstream: %w", ledger.ErrUnavailable, err)
	}
	replicas, leader := max(c.Replicas, 1), ""
	st, err := js.Stream(ctx, StreamName)
	switch {
	case err == nil:
		info := st.CachedInfo()
		replicas = max(info.Config.Replicas, 1)
		if info.Cluster != nil {
			leader = info.Cluster.Leader
		}
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return "", fmt.Errorf("%w: stream %s: %w", ledger.ErrUnavailable, StreamName, err)
	}
	if replicas >= 3 {
		return fmt.Sprintf("the ledger stream has %d replicas: an append is acknowledged once a majority of them stored it", replicas), nil
	}
	if c.System == nil {
		return "", &NotDurableError{Unreadable: true, Reason: fmt.Sprintf(
			"the ledger stream has %d replica and the JetStream sync setting of the server at %s cannot be read: "+
				"only the system account may read a server's VARZ, and no system account credentials were given",
			replicas, nc.ConnectedUrlRedacted())}
	}
	servers, err := gatherVarz(ctx, c.System, c.Timeout)
	if err != nil {
		return "", &NotDurableError{Unreadable: true, Reason: fmt.Sprintf(
			"the JetStream sync setting of the servers cannot be read through the system account: %v", err)}
	}
	return judge(servers, leader)
}

// judge applies CheckStrict's fsync rule to the servers that answered:
// the one leading the ledger stream when it exists, else every JetStream
// server of the cluster.
func judge(servers []serverVarz, leader string) (string, error) {
	var held []serverVarz
	size := 1
	for _, s := range servers {
		if leader == "" || s.Name == leader {
			held = append(held, s)
		}
		size = max(size, s.ClusterSize)
	}
	switch {
	case leader != "" && len(held) == 0:
		return "", &NotDurableError{Unreadable: true, Reason: fmt.Sprintf(
			"server %s, which holds the ledger stream, did not answer VARZ (answered: %s)", leader, names(servers))}
	case leader == "" && len(held) < size:
		return "", &NotDurableError{Unreadable: true, Reason: fmt.Sprintf(
			"%d of the cluster's %d JetStream servers answered VARZ (%s): the ledger stream may be placed on one that did not",
			len(held), size, names(servers))}
	}
	var lax []string
	for _, s := range held {
		if !s.SyncAlways {
			lax = append(lax, fmt.Sprintf("%s (sync_interval %s)", s.Name, s.SyncInterval))
		}
	}
	if len(lax) > 0 {
		return "", &NotDurableError{Reason: fmt.Sprintf(
			"NATS server %s does not fsync before acknowledging (no sync_interval: always): an acknowledged append could be lost in a power loss",
			strings.Join(lax, ", "))}
	}
	return fmt.Sprintf("server %s fsyncs every write (sync_interval: always)", names(held)), nil
}

// serverVarz is what CheckStrict reads in one server's VARZ.
type serverVarz struct {
	Name         string
	SyncAlways   bool
	SyncInterval time.Duration
	ClusterSize  int
}

// varzReply is the part of nats-server's ServerAPIResponse{Server, Data:
// Varz} read here (server/events.go, server/monitor.go: Varz.JetStream is
// a JetStreamVarz whose Config is the active JetStreamConfig).
type varzReply struct {
	Server struct {
		Name string `json:"name"`
	} `json:"server"`
	Data struct {
		JetStream struct {
			Config *struct {
				SyncInterval time.Duration `json:"sync_interval"`
				SyncAlways   bool          `json:"sync_always"`
			} `json:"config"`
			Meta *struct {
				Size int `json:"cluster_size"`
			} `json:"meta"`
		} `json:"jetstream"`
	} `json:"data"`
	Error *struct {
		Description string `json:"description"`
	} `json:"error"`
}

// gatherVarz asks every server for its VARZ and collects the answers of
// those running JetStream, until as many as the cluster has answered or
// timeout.
func gatherVarz(ctx context.Context, sys *nats.Conn, timeout time.Duration) ([]serverVarz, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	inbox := sys.NewRespInbox()
	sub, err := sys.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", inbox, err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // best effort
	if err := sys.PublishRequest(varzSubject, inbox, nil); err != nil {
		return nil, fmt.Errorf("request %s: %w", varzSubject, err)
	}
	var out []serverVarz
	answered, size := 0, 0
	for size == 0 || len(out) < size {
		m, err := sub.NextMsgWithContext(ctx)
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, fmt.Errorf("nothing answers %s on this connection: it is not the system account", varzSubject)
		}
		if err != nil {
			if answered > 0 {
				return out, nil // the rule then names who did not answer
			}
			return nil, fmt.Errorf("no server answered %s within %s (is this the system account?): %w", varzSubject, timeout, err)
		}
		if m.Header.Get("Status") == "503" {
			return nil, fmt.Errorf("nothing answers %s on this connection: it is not the system account", varzSubject)
		}
		var r varzReply
		if err := json.Unmarshal(m.Data, &r); err != nil {
			return nil, fmt.Errorf("decode the VARZ of a server: %w", err)
		}
		if r.Error != nil {
			return nil, fmt.Errorf("server %s: VARZ: %s", r.Server.Name, r.Error.Description)
		}
		answered++
		if size == 0 {
			size = 1
		}
		js := r.Data.JetStream
		if js.Meta != nil && js.Meta.Size > size {
			size = js.Meta.Size
		}
		if js.Config == nil {
			continue // no JetStream on this server: it holds no stream
		}
		s := serverVarz{Name: r.Server.Name, SyncAlways: js.Config.SyncAlways, SyncInterval: js.Config.SyncInterval}
		if js.Meta != nil {
			s.ClusterSize = js.Meta.Size
		}
		out = append(out, s)
	}
	return out, nil
}

func names(servers []serverVarz) string {
	var n []string
	for _, s := range servers {
		n = append(n, s.Name)
	}
	sort.Strings(n)
	if len(n) == 0 {
		return "none"
	}
	return strings.Join(n, ", ")
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/relais-health/relais/app"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

func newEventsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "append, read and tail ledger events (operators)"}
	cmd.AddCommand(newAppendCmd(g), newReadCmd(g), newTailCmd(g), newTypesCmd())
	return cmd
}

// eventInput is one event as an operator writes it in JSON.
type eventInput struct {
	ID   string          `json:"id,omitempty"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func newAppendCmd(g *globals) *cobra.Command {
	var stream, expected, typ, data, file, actorID, role string
	cmd := &cobra.Command{
		Use:   "append",
		Short: "append events to a stream (one from --type/--payload, or JSON lines {\"type\",\"data\"} from --file, '-' for stdin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exp, err := parseExpected(expected)
			if err != nil {
				return &exitErr{exitUsage, err}
			}
			var inputs []eventInput
			switch {
			case file != "":
				inputs, err = readInputs(file, cmd.InOrStdin())
			case typ != "":
				inputs = []eventInput{{Type: typ, Data: json.RawMessage(data)}}
			default:
				err = errors.New("give --type and --payload, or --file")
			}
			if err != nil {
				return &exitErr{exitUsage, err}
			}
			actor := events.Actor{ID: actorID, Role: role}
			evs := make([]events.Event, len(inputs))
			for i, in := range inputs {
				if evs[i], err = buildEvent(in, actor); err != nil {
					return fmt.Errorf("event %d: %w", i+1, err)
				}
			}
			return withLedger(cmd.Context(), g, func(ctx context.Context, l ledger.Ledger) error {
				res, err := l.Append(ctx, stream, exp, evs...)
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), map[string]any{"stream": res.Stream, "revision": res.Revision, "position": res.Position, "events": len(res.Events), "duplicate": res.Duplicate})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&stream, "stream", "", "ledger stream (e.g. client-42)")
	f.StringVar(&expected, "expected", "any", "expected stream revision: a number, 'any', or 'new'")
	f.StringVar(&typ, "type", "", "event type (see 'relais events types')")
	f.StringVar(&data, "payload", "", "event payload as JSON")
	f.StringVar(&file, "file", "", "JSON lines of {\"type\":...,\"data\":{...}}, '-' for stdin")
	f.StringVar(&actorID, "actor", envOr("USER", "operator"), "acting identity")
	f.StringVar(&role, "role", "admin", "role of the acting identity")
	cmd.MarkFlagRequired("stream") //nolint:errcheck
	return cmd
}

func buildEvent(in eventInput, actor events.Actor) (events.Event, error) {
	if in.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return events.Event{}, err
		}
		in.ID = id.String()
	}
	e := events.Event{
		ID: in.ID, Type: in.Type, SchemaVersion: events.CurrentVersion(in.Type),
		OccurredAt: time.Now().UTC(), Actor: actor, Data: in.Data,
	}
	if len(e.Data) == 0 {
		return e, fmt.Errorf("%w: data: required", events.ErrInvalid)
	}
	return e, nil
}

func readInputs(file string, stdin io.Reader) ([]eventInput, error) {
	r := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--file: %w", err)
		}
		defer f.Close()
		r = f
	}
	var out []eventInput
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), events.MaxEventSize+4096)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var in eventInput
		if err := json.Unmarshal(sc.Bytes(), &in); err != nil {
			return nil, fmt.Errorf("--file line %d: %w", line, err)
		}
		out = append(out, in)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--file: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("--file: no events")
	}
	return out, nil
}

func parseExpected(s string) (int64, error) {
	switch s {
	case "any", "":
		return ledger.Any, nil
	case "new":
		return ledger.NoStream, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--expected %q: a revision (0, 1, ...), 'any' or 'new'", s)
	}
	return n, nil
}

func newReadCmd(g *globals) *cobra.Command {
	var stream string
	var from uint64
	cmd := &cobra.Command{
		Use:   "read",
		Short: "print a stream's events as JSON lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withLedger(cmd.Context(), g, func(ctx context.Context, l ledger.Ledger) error {
				evs, err := l.Read(ctx, stream, from)
				if err != nil {
					return err
				}
				for _, e := range evs {
					if err := printEvent(cmd.OutOrStdout(), e); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&stream, "stream", "", "ledger stream")
	cmd.Flags().Uint64Var(&from, "from", 1, "first revision")
	cmd.MarkFlagRequired("stream") //nolint:errcheck
	return cmd
}

func newTailCmd(g *globals) *cobra.Command {
	var from uint64
	var follow bool
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "print every event in global order from a position, then (with --follow) new ones as they come",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withLedger(cmd.Context(), g, func(ctx context.Context, l ledger.Ledger) error {
				var opts []ledger.SubscribeOption
				if !follow {
					opts = append(opts, ledger.StopAtHead())
				}
				w := bufio.NewWriter(cmd.OutOrStdout())
				defer w.Flush()
				return l.Subscribe(ctx, from, func(_ context.Context, e events.Event) error {
					if err := printEvent(w, e); err != nil {
						return err
					}
					if follow {
						return w.Flush()
					}
					return nil
				}, opts...)
			})
		},
	}
	cmd.Flags().Uint64Var(&from, "from", 1, "first global position")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing live events until interrupted")
	return cmd
}

func newTypesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "types",
		Short: "list the event types of the catalog with their schema version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, t := range events.Types() {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\tv%d\n", t, events.CurrentVersion(t))
			}
			return nil
		},
	}
}

// printedEvent is the operator view of an event: the envelope plus the
// storage fields that are not part of the stored body.
type printedEvent struct {
	Position uint64 `json:"position"`
	Hash     string `json:"hash"`
	events.Event
}

func printEvent(w io.Writer, e events.Event) error {
	return printJSON(w, printedEvent{Position: e.Position, Hash: e.Hash, Event: e})
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printIndented prints v as indented JSON, for a reader rather than a pipe.
func printIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// withLedger opens the backend for one command and closes it afterwards.
func withLedger(ctx context.Context, g *globals, fn func(context.Context, ledger.Ledger) error) error {
	b, err := app.OpenBackend(ctx, g.backend(), g.logger())
	if err != nil {
		return err
	}
	defer b.Close()
	return fn(ctx, b.Store)
}

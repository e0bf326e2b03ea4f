package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/progress"
	"github.com/relais-health/relais/projections/rebuild"
	"github.com/relais-health/relais/projections/reports"
)

func newReportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "population reports computed from the ledger"}
	var n, window, end, exclude string
	var asCSV bool
	hu := &cobra.Command{
		Use:   "high-utilizers",
		Short: "top N patients by ED visits over a trailing window (default 200 over 12 months, obstetric visits excluded), marking who is enrolled",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ex []string
			if cmd.Flags().Changed("exclude") {
				ex = strings.Split(exclude, ",")
			}
			q, err := reports.ParseQuery(n, window, end, ex)
			if err != nil {
				return &exitErr{exitUsage, err}
			}
			q.IncludeIdentifiers = true // the operator running this is the archivist
			return withReports(cmd.Context(), g, func(r *reports.Projection) error {
				rows := r.HighUtilizers(q)
				if asCSV {
					return reports.WriteHighUtilizersCSV(cmd.OutOrStdout(), rows)
				}
				w := cmd.OutOrStdout()
				who := func(row reports.Row) string {
					if row.ClientID != "" {
						return row.ClientID
					}
					return row.PatientKey
				}
				width := len("client / patient")
				for _, row := range rows {
					width = max(width, len(who(row)))
				}
				fmt.Fprintf(w, "%4s  %-*s %7s %8s  %-10s %s\n", "rank", width, "client / patient", "visits", "ED h", "last", "enrolled")
				for _, row := range rows {
					fmt.Fprintf(w, "%4d  %-*s %7d %8.1f  %-10s %v\n", row.Rank, width, who(row), row.Visits, row.EDHours, row.LastVisit.Format(time.DateOnly), row.Enrolled)
				}
				return nil
			})
		},
	}
	f := hu.Flags()
	f.StringVar(&n, "n", "", "how many (default 200)")
	f.StringVar(&window, "window", "", "trailing window: months like 12m, or a duration (default 12 months)")
	f.StringVar(&end, "end", "", "end of the window, RFC3339 (default now)")
	f.StringVar(&exclude, "exclude", "obstetric", "comma-separated reason categories (or reason:<text prefix>) whose visits do not count; 'none' for none")
	f.BoolVar(&asCSV, "csv", false, "CSV (with hospital identifiers of non-clients: archivist only)")

	var asOf, format, out, minFollowUp, lang string
	oc := &cobra.Command{
		Use:   "outcomes",
		Short: "ED visits and hours 12 months before vs after enrolment, per client and cohort; JSON, CSV or an SVG chart",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var q reports.OutcomeQuery
			if asOf != "" {
				t, err := time.Parse(time.RFC3339, asOf)
				if err != nil {
					return &exitErr{exitUsage, fmt.Errorf("--as-of %q: not RFC3339", asOf)}
				}
				q.AsOf = t
			}
			d, err := reports.ParseMinFollowUp(minFollowUp)
			if err != nil {
				return &exitErr{exitUsage, fmt.Errorf("--min-follow-up: %w", err)}
			}
			q.MinFollowUp = d
			if lang != "fr" && lang != "en" {
				return &exitErr{exitUsage, fmt.Errorf("--lang %q: fr or en", lang)}
			}
			return withReports(cmd.Context(), g, func(r *reports.Projection) error {
				o := r.Outcomes(q)
				w := cmd.OutOrStdout()
				if out != "" {
					f, err := os.Create(out)
					if err != nil {
						return fmt.Errorf("--out: %w", err)
					}
					defer f.Close()
					w = f
				}
				switch format {
				case "csv":
					return reports.WriteCohortsCSV(w, o)
				case "svg":
					return reports.WriteOutcomesSVG(w, o, reports.MetricVisits, reports.InLanguage(lang))
				case "json":
					enc := json.NewEncoder(w)
					enc.SetIndent("", "  ")
					return enc.Encode(o)
				}
				return &exitErr{exitUsage, fmt.Errorf("--format %q: json, csv or svg", format)}
			})
		},
	}
	oc.Flags().StringVar(&asOf, "as-of", "", "instant of the report, RFC3339 (default now)")
	oc.Flags().StringVar(&format, "format", "json", "json, csv or svg")
	oc.Flags().StringVar(&out, "out", "", "write to this file instead of stdout")
	oc.Flags().StringVar(&minFollowUp, "min-follow-up", "90d", "after-enrolment rates only for clients followed at least this long (days like 90d, or a duration); the others are counted as follow-up too short")
	oc.Flags().StringVar(&lang, "lang", "fr", "language of the SVG chart's text: fr or en")
	cmd.AddCommand(hu, oc)
	return cmd
}

// withReports builds the reports projection from the whole ledger.
func withReports(ctx context.Context, g *globals, fn func(*reports.Projection) error) error {
	return withLedger(ctx, g, func(ctx context.Context, l ledger.Ledger) error {
		head, err := l.Head(ctx)
		if err != nil {
			return err
		}
		r := reports.New(reports.Config{})
		bar := progress.New(os.Stderr, "reading the ledger", head, false)
		_, err = rebuild.Replay(ctx, l, rebuild.Until{}, r, bar.Set)
		bar.Done()
		if err != nil {
			return err
		}
		return fn(r)
	})
}

package hl7

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger/jetstream"
)

// corpusFacilities is testdata/facilities.conf: the corpus's senders.
func corpusFacilities(t testing.TB) *Facilities {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "facilities.conf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fs, err := ParseFacilities(f, "facilities.conf")
	if err != nil {
		t.Fatal(err)
	}
	fs.Now = func() time.Time { return ackTime }
	return fs
}

// corpus is every public sample of testdata/corpus (SOURCES.md says where
// each comes from) and the answer it must get: AA for every well-formed
// ADT message from a configured facility (recorded, or "received,
// nothing to do" for a trigger Relais does not follow), AE for what is
// malformed (naming the field), AR for what is not ADT or is a batch.
var corpus = []struct {
	file    string
	ack     string
	control string
	outcome string // recorded, nothing_to_do; or a text the MSA-3 of an AE/AR holds
}{
	{"hapi_a03_santer_v25_lf.hl7", AA, "263206", "recorded"},
	{"hapi_a24_caret_field_separator_v24.hl7", AA, "2003582144", "nothing_to_do"},
	{"hapi_bar_p01_adt1_v24_lf.hl7", AR, "589888ADT30502184808", "MSH-9: message type \"BAR\""},
	{"hl7apy_a01_send_fac_v25_msh_only.hl7", AE, "0123456789", "PID: segment missing"},
	{"hl7apy_a01_sending_fac_v26_admit_time_only.hl7", AA, "0123456789", "recorded"},
	{"lfh_a01_bum_v26.hl7", AA, "2847970-201111211031", "recorded"},
	{"lfh_a01_e_amc_v27_no_visit.hl7", AE, "MSG$1", "no visit can be identified"},
	{"lfh_a01_evn_a04_sentara_v26_8859.hl7", AA, "MSGID000001", "recorded"},
	{"lfh_a01_ibm_toronto_v23_lf.hl7", AA, "MSGID_4e1c575f-6c6d-47b2-ab9f-829f20c96db2", "recorded"},
	{"lfh_a01_instance1_v26_no_visit_lf.hl7", AE, "64322", "no visit can be identified"},
	{"lfh_a02_no_facility_v26.hl7", AE, "controlID", "MSH-4: sending facility missing"},
	{"lfh_a08_sendfac1_v26.hl7", AA, "1", "recorded"},
	{"lfh_a18_xyz_v231_lf.hl7", AA, "101166", "nothing_to_do"},
	{"lfh_a34_no_control_id_v23.hl7", AE, "", "MSH-10: control id missing"},
	{"lfh_a40_mcm_v26_lf.hl7", AA, "00000003", "recorded"},
	{"nhapi_a01_ovi02_v23.hl7", AA, "1049691900", "recorded"},
	// The same message as the 2.3 one, sent again as 2.4: recorded once.
	{"nhapi_a01_ovi02_v24.hl7", AA, "1049691900", "duplicate"},
	{"nhapi_a04_cohie_v251_no_visit.hl7", AE, "1", "no visit can be identified"},
	{"nhapi_a04_cohie_v27_no_visit.hl7", AE, "1", "no visit can be identified"},
	{"nhapi_a04_cohie_v28_no_visit.hl7", AE, "1", "no visit can be identified"},
	{"nhapi_a08_emry_v23_8859_nulls.hl7", AA, "Q2043855220T2330403781X928163", "recorded"},
	{"nhapi_a28_cohie_v25.hl7", AA, "1", "nothing_to_do"},
	{"pyhl7_a01_hna500_v23_nulls.hl7", AA, "Q150084616T145947960", "recorded"},
	{"pyhl7_batch_bhs_a04_v25.hl7", AR, "abchs20070101123401-1", "a batch is not taken"},
	{"pyhl7_oru_r01_elab3_v24.hl7", AR, "CNTRL-3456", "MSH-9: message type \"ORU\""},
	{"v2fhir_a01_sndfac_oid_v251.hl7", AA, "4637382", "recorded"},
	{"v2fhir_orm_o01_v231.hl7", AR, "5381904", "MSH-9: message type \"ORM\""},
}

// Every public sample gets the answer it must, with its MSH-10 echoed,
// and every AA that records is an event in the ledger (a real JetStream)
// whose source is that control id; "nothing to do" appends nothing.
func TestCorpusGetsHonestAnswers(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.hl7"))
	if len(files) != len(corpus) {
		t.Fatalf("%d files in testdata/corpus, %d in the table: every sample needs its row", len(files), len(corpus))
	}
	h, l := intakeOn(t)
	fs := corpusFacilities(t)
	h.Facilities = fs
	h.Metrics = NewMetrics()
	h.S = newService(t, l, fs)
	for _, tt := range corpus {
		t.Run(tt.file, func(t *testing.T) {
			ctx := context.Background()
			before, _ := l.Head(ctx)
			reply := h.Handle(ctx, loopback, sample(t, filepath.Join("corpus", tt.file)))
			ack, err := Parse(reply)
			if err != nil {
				t.Fatalf("the ACK does not parse: %v\n%q", err, reply)
			}
			code, control, text := ack.Get("MSA", 1, 0), ack.Get("MSA", 2, 0), ack.Get("MSA", 3, 0)
			if code != tt.ack || control != tt.control {
				t.Fatalf("MSA %s|%s|%s, want %s|%s", code, control, text, tt.ack, tt.control)
			}
			if len(ack.Get("MSH", 10, 0)) > maxControlID {
				t.Errorf("the ACK's MSH-10 %q is longer than %d", ack.Get("MSH", 10, 0), maxControlID)
			}
			after, _ := l.Head(ctx)
			switch tt.outcome {
			case "recorded":
				if after != before+1 {
					t.Fatalf("AA but the ledger went from %d to %d", before, after)
				}
				if e := eventAt(t, l, after); e.Source.MessageID != tt.control {
					t.Fatalf("the event recorded has control id %q", e.Source.MessageID)
				}
			case "duplicate":
				if text != "" || after != before {
					t.Fatalf("MSA-3 %q, ledger %d → %d: a message sent again is answered AA and recorded once", text, before, after)
				}
			case "nothing_to_do":
				if text != NothingToDo || after != before {
					t.Fatalf("MSA-3 %q, ledger %d → %d: want %q and nothing appended", text, before, after, NothingToDo)
				}
			default:
				if !strings.Contains(text, tt.outcome) {
					t.Fatalf("MSA-3 %q does not say %q", text, tt.outcome)
				}
				if _, ok := ack.Segment("ERR"); !ok {
					t.Fatalf("no ERR segment in %q", reply)
				}
				if after != before {
					t.Fatalf("%s but the ledger went from %d to %d", code, before, after)
				}
			}
		})
	}
}

var errFound = errors.New("found")

// eventAt reads the event at position pos of the ledger.
func eventAt(t *testing.T, l *jetstream.Store, pos uint64) events.Event {
	t.Helper()
	var got events.Event
	err := l.Subscribe(context.Background(), pos, func(_ context.Context, e events.Event) error {
		got = e
		return errFound
	})
	if !errors.Is(err, errFound) {
		t.Fatalf("read position %d: %v", pos, err)
	}
	return got
}

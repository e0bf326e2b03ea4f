package reports

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrBadQuery: a high-utilizer list parameter that does not parse (the
// error names it).
var ErrBadQuery = errors.New("bad report query")

// ParseQuery reads the high-utilizer list's parameters as the API and the
// CLI take them: n, a window as a Go duration or "12m" months, an RFC3339 end, and
// exclusion rules.
func ParseQuery(n, window, end string, exclude []string) (Query, error) {
	var q Query
	if n != "" {
		v, err := strconv.Atoi(n)
		if err != nil || v <= 0 {
			return q, fmt.Errorf("%w: n %q is not a positive number", ErrBadQuery, n)
		}
		q.N = v
	}
	if window != "" {
		if months, ok := strings.CutSuffix(window, "m"); ok && !strings.ContainsAny(months, "hs") {
			v, err := strconv.Atoi(months)
			if err != nil || v <= 0 {
				return q, fmt.Errorf("%w: window %q: months like 12m or a duration like 4380h", ErrBadQuery, window)
			}
			// Calendar months back from the end of the window.
			endT := time.Now()
			if end != "" {
				if t, err := time.Parse(time.RFC3339, end); err == nil {
					endT = t
				}
			}
			q.Window = endT.Sub(endT.AddDate(0, -v, 0))
		} else {
			d, err := time.ParseDuration(window)
			if err != nil || d <= 0 {
				return q, fmt.Errorf("%w: window %q: months like 12m or a duration like 4380h", ErrBadQuery, window)
			}
			q.Window = d
		}
	}
	if end != "" {
		t, err := time.Parse(time.RFC3339, end)
		if err != nil {
			return q, fmt.Errorf("%w: end %q is not an RFC3339 time", ErrBadQuery, end)
		}
		q.End = t
	}
	if exclude != nil {
		q.Exclude = []string{}
		for _, x := range exclude {
			if x != "" && x != "none" {
				q.Exclude = append(q.Exclude, x)
			}
		}
	}
	return q, nil
}

// ParseMinFollowUp reads the outcomes' minimum follow-up as the API and
// the CLI take it: days like "90d" or a Go duration like "2160h"; ""
// is 0 (the default).
func ParseMinFollowUp(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%w: min_follow_up %q: days like 90d or a duration like 2160h", ErrBadQuery, v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: min_follow_up %q: days like 90d or a duration like 2160h", ErrBadQuery, v)
	}
	return d, nil
}

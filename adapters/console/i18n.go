package console

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"golang.org/x/text/language"
)

// Languages of the console: French (Canada) first.
const (
	langFR = "fr"
	langEN = "en"
)

var matcher = language.NewMatcher([]language.Tag{language.CanadianFrench, language.English})

// langOf is the request's language: the toggle's cookie, else
// Accept-Language, else French.
func langOf(r *http.Request) string {
	if ck, err := r.Cookie(langCookie); err == nil && (ck.Value == langFR || ck.Value == langEN) {
		return ck.Value
	}
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return langFR
	}
	_, i, _ := matcher.Match(tags...)
	if i == 1 {
		return langEN
	}
	return langFR
}

// L is a page's language: its strings and its dates.
type L struct {
	Lang string
	loc  *time.Location
}

// T is the catalog's string for key; a key missing from the catalog shows
// as itself (a test makes sure none is).
func (l L) T(key string) string {
	if m, ok := catalog[key]; ok {
		if s, ok := m[l.Lang]; ok {
			return s
		}
	}
	return key
}

// Tf is T with fmt arguments.
func (l L) Tf(key string, args ...any) string { return fmt.Sprintf(l.T(key), args...) }

// HTML is T for strings that hold markup of the catalog's own.
func (l L) HTML(key string) template.HTML { return template.HTML(l.T(key)) } //nolint:gosec // the catalog is ours

var monthsFR = []string{"janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."}

// Date is t in America/Montreal: "2 déc. 2026, 14 h 05" or
// "Dec 2, 2026, 2:05 PM"; the zero time is a dash.
func (l L) Date(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	t = t.In(l.loc)
	if l.Lang == langEN {
		return t.Format("Jan 2, 2006, 3:04 PM")
	}
	return fmt.Sprintf("%d %s %d, %d h %02d", t.Day(), monthsFR[t.Month()-1], t.Year(), t.Hour(), t.Minute())
}

// Day is the date alone.
func (l L) Day(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	t = t.In(l.loc)
	if l.Lang == langEN {
		return t.Format("Jan 2, 2006")
	}
	return fmt.Sprintf("%d %s %d", t.Day(), monthsFR[t.Month()-1], t.Year())
}

// Other is the language the toggle switches to.
func (l L) Other() string {
	if l.Lang == langEN {
		return langFR
	}
	return langEN
}

// Enum is the catalog's word for a code (priority, kind, category,
// channel, state): key prefix + "." + code, or the code itself.
func (l L) Enum(prefix, code string) string {
	k := prefix + "." + code
	if _, ok := catalog[k]; ok {
		return l.T(k)
	}
	return strings.ReplaceAll(code, "_", " ")
}

// item is one alert thread as its template sees it.
type item struct {
	V       view
	T       thread
	Pending bool
}

var funcs = template.FuncMap{
	"join": strings.Join,
	"dict": func(v view, t thread, pending bool) item { return item{v, t, pending} },
	"list": func(s ...string) []string { return s },
}

package console

import "fmt"

// sessionCatalog is the strings of sign-in and sessions (session.go),
// merged into catalog at init.
var sessionCatalog = map[string]map[string]string{
	"login.unavailable": {"fr": "La connexion n'a pas pu être enregistrée. Réessayez dans un instant.", "en": "The sign-in could not be saved. Try again in a moment."},
}

func init() {
	for k, v := range sessionCatalog {
		if _, dup := catalog[k]; dup {
			panic(fmt.Sprintf("console: catalog key %q defined twice", k))
		}
		catalog[k] = v
	}
}

package projections

// maxAliasHops bounds how far a chain of merged patient keys is followed,
// so a damaged map cannot loop forever.
const maxAliasHops = 32

// Aliases maps each patient key the hospital merged into another
// (events.PatientMerged) to the key that survived the merge, so a key
// from any time resolves to the one that stands now. Its JSON is that of
// the map. The zero value is not usable; make it with make or a literal.
type Aliases map[string]string

// Resolve follows merges from key to the key that stands now (key itself
// when it was never merged).
func (a Aliases) Resolve(key string) string { return a.resolve(key, maxAliasHops) }

func (a Aliases) resolve(key string, hops int) string {
	for range hops {
		next, ok := a[key]
		if !ok {
			break
		}
		key = next
	}
	return key
}

// ResolveBytes is Resolve for a key read from a stored payload, without
// copying it: it returns the key that stands now and true when key was
// merged, or "" and false when key stands itself.
func (a Aliases) ResolveBytes(key []byte) (string, bool) {
	next, ok := a[string(key)]
	if !ok {
		return "", false
	}
	return a.resolve(next, maxAliasHops-1), true
}

// Merge records that merged was merged into surviving and returns the key
// that now stands for both: surviving once its own merges are followed.
// A merge into a key that already resolves to merged (a merge back)
// changes nothing: the key standing for both stays the same.
func (a Aliases) Merge(merged, surviving string) string {
	survivor := a.Resolve(surviving)
	delete(a, survivor) // only set when a chain was longer than maxAliasHops
	if merged != survivor {
		a[merged] = survivor
	}
	return survivor
}

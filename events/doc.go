// Package events is the Relais event catalog: the envelope every ledger entry
// carries, the typed payloads of the coordination facts, their validation, and
// the upcasting hooks that let old schema versions decode.
//
// The package sits at the bottom of the dependency graph: it imports nothing
// else from Relais, and everything else imports it.
package events

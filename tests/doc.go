// Package tests holds end-to-end and fault tests that build and run the
// real relais binary and talk to it over real sockets.
package tests

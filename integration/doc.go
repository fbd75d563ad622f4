// Package integration holds pgveil's end-to-end tests; see the _test files
// and the harness subpackage.
package integration

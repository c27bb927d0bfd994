//go:build !unix

package hub

// lockPath is a no-op where advisory file locks are not available; two
// processes downloading the same file at once may then spoil each other's
// partial file, which verification catches.
func lockPath(path string) (unlock func(), err error) {
	return func() {}, nil
}

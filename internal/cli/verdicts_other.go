//go:build !unix

package cli

import "os"

// ownedByMe is true where file owners are not told this way (Windows: the
// user's profile holds the cache).
func ownedByMe(os.FileInfo) bool { return true }

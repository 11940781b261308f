//go:build !unix

package sqlite

// fileLock is a no-op where flock is not available.
type fileLock struct{}

func lockFile(string) (*fileLock, error) { return &fileLock{}, nil }

func (*fileLock) release() {}

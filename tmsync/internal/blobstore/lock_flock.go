//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package blobstore

import (
	"errors"
	"os"
	"syscall"
)

// lockSupported: this platform locks the folder (flock).
const lockSupported = true

// noFollow makes an open fail on a symbolic link (ELOOP).
const noFollow = syscall.O_NOFOLLOW

// tryLock takes an exclusive, non-blocking advisory lock on f. The lock belongs to f's
// open file description: a second open of the same file, in this process or another,
// cannot take it, and the kernel drops it when the holder closes f or dies.
func tryLock(f *os.File) (held bool, err error) {
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// lockUnsupported reports whether a lock error says the file system has no locks, not
// that the folder is held.
func lockUnsupported(err error) bool {
	return errors.Is(err, syscall.ENOLCK) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) ||
		errors.Is(err, syscall.ENOTSUP)
}

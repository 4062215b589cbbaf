//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package blobstore

import "os"

// lockSupported: this platform has no flock here, so a folder is not locked: two runs
// on one folder are not refused (tmsync ships for Linux; darwin and the BSDs lock).
const lockSupported = false

const noFollow = 0

func tryLock(*os.File) (bool, error) { return true, nil }

func lockUnsupported(error) bool { return false }

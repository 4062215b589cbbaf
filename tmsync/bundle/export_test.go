package bundle

import "time"

// SetProgressInterval sets how often an image sends ProgressBytes while a blob is read,
// for a test, and returns what undoes it.
func SetProgressInterval(d time.Duration) (restore func()) {
	old := progressEvery
	progressEvery = d
	return func() { progressEvery = old }
}

// SetOutageLimit sets how long the vendor may keep failing before Export stops reading
// images, for a test, and returns what undoes it.
func SetOutageLimit(d time.Duration) (restore func()) {
	old := outageLimit
	outageLimit = d
	return func() { outageLimit = old }
}

package faultproxy

import "errors"

// ErrConfig is wrapped by the errors of New and SetConfig for a Config that cannot be
// used (a rate outside [0, 1], a status that is not an error, a negative duration).
var ErrConfig = errors.New("invalid fault proxy config")

// errCut ends a cut response body; httputil.ReverseProxy answers it by aborting the
// connection.
var errCut = errors.New("faultproxy: response cut")

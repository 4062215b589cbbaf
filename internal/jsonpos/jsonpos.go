// Package jsonpos turns a byte offset in a file (a JSON decoder's error offset, or where a
// check found a problem) into the line and column that an error message shows. manifest
// and ecrtarget both report bad files so; one computation keeps their positions alike.
//
// It does not read files or parse JSON; it imports the standard library only, so the leaf
// packages that use it stay leaves.
package jsonpos

import (
	"bytes"
	"unicode/utf8"
)

// bom is the UTF-8 byte order mark.
var bom = []byte{0xEF, 0xBB, 0xBF}

// LineCol returns the 1-based line and character (not byte) column of byte at of data; at
// is clamped to data. A UTF-8 byte order mark at the start of data is not a column.
func LineCol(data []byte, at int) (line, col int) {
	at = max(0, min(at, len(data)))
	before := data[:at]
	line = bytes.Count(before, []byte("\n")) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	if start == 0 && bytes.HasPrefix(before, bom) {
		start = len(bom)
	}
	return line, utf8.RuneCount(before[start:]) + 1
}

package manifest

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoRelease is the cause of the Problem reported when a folder holds no release file
// and no image list at all. Test it with errors.Is on the error Load returns.
var ErrNoRelease = errors.New("no release files")

// Problem is one thing wrong with the input, located as precisely as the input allows:
// a line and column for text and JSON syntax, a JSON path for a JSON value.
type Problem struct {
	// File is the file the problem is in, or the folder for a problem of the folder.
	File string
	// Line and Column are 1-based; 0 when not known. Column counts characters.
	Line, Column int
	// Path is the JSON path of the value at fault: `metadata.images["vault/x"].source`.
	Path string
	// Msg says what is wrong and what was expected.
	Msg string
	// Err is the underlying cause, if any (ErrNoRelease, an fs error); see Errors.Unwrap.
	Err error
}

// Error returns "FILE:LINE:COL: msg", "FILE:LINE: msg", "FILE: PATH: msg" or "FILE: msg".
// When a JSON path is known it is preferred to the line (Line and Column may still be set).
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	switch {
	case p.Path != "":
		fmt.Fprintf(&b, ": %s", p.Path)
	case p.Line > 0 && p.Column > 0:
		fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
	case p.Line > 0:
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

func (p Problem) Unwrap() error { return p.Err }

// Errors is every problem found in a folder or file, in the order found. Load, LoadFS,
// ParseRelease and ParseImageList return it as *Errors.
type Errors []Problem

// Error joins the problems, one per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so that errors.Is finds ErrNoRelease or an fs error.
func (e Errors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, p := range e {
		errs[i] = p
	}
	return errs
}

// As lets errors.As fill an Errors value as well as an *Errors pointer.
func (e *Errors) As(target any) bool {
	if t, ok := target.(*Errors); ok {
		*t = *e
		return true
	}
	return false
}

// err returns nil for no problems, else the problems as *Errors.
func (e Errors) err() error {
	if len(e) == 0 {
		return nil
	}
	return &e
}

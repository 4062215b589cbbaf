// Package vtscreen is a small terminal emulator for tests: enough of VT100 (CR, LF, ESC[K,
// ESC[nA, ESC[J) to see what a person sees of tmsync's console on a terminal.
package vtscreen

import (
	"regexp"
	"strconv"
	"strings"
)

// Screen is a small terminal emulator: enough of VT100 for what the console writes
// (CR, LF as a tty's onlcr gives it, ESC[K, ESC[nA, ESC[J), to see what a person sees.
type Screen struct {
	rows     []string
	row, col int
}

var csiRE = regexp.MustCompile(`^\x1b\[(\d*)([A-Za-z])`)

// Write applies out to the screen.
func (s *Screen) Write(out string) {
	for len(out) > 0 {
		if m := csiRE.FindStringSubmatch(out); m != nil {
			n, _ := strconv.Atoi(m[1])
			switch m[2] {
			case "K":
				s.line()
				if s.col < len(s.rows[s.row]) {
					s.rows[s.row] = s.rows[s.row][:s.col]
				}
			case "A":
				s.row = max(0, s.row-max(n, 1))
			case "J":
				s.line()
				if s.col < len(s.rows[s.row]) {
					s.rows[s.row] = s.rows[s.row][:s.col]
				}
				s.rows = s.rows[:s.row+1]
			}
			out = out[len(m[0]):]
			continue
		}
		c := out[0]
		out = out[1:]
		switch c {
		case '\r':
			s.col = 0
		case '\n':
			s.row, s.col = s.row+1, 0
		default:
			s.line()
			r := s.rows[s.row]
			for len(r) < s.col {
				r += " "
			}
			s.rows[s.row] = r[:s.col] + string(c) + r[min(len(r), s.col+1):]
			s.col++
		}
	}
}

func (s *Screen) line() {
	for len(s.rows) <= s.row {
		s.rows = append(s.rows, "")
	}
}

// Text is what the screen shows, without trailing empty lines.
func (s *Screen) Text() string { return strings.TrimRight(strings.Join(s.rows, "\n"), "\n") }

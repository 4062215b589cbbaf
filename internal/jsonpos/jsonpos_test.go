package jsonpos

import "testing"

func TestLineCol(t *testing.T) {
	for _, tc := range []struct {
		data      string
		at        int
		line, col int
	}{
		{"", 0, 1, 1},
		{"abc", 0, 1, 1},
		{"abc", 2, 1, 3},
		{"abc", 3, 1, 4},
		{"a\nbc", 1, 1, 2},   // the newline itself ends line 1
		{"a\nbc", 2, 2, 1},   // the byte after it starts line 2
		{"a\r\nbc", 3, 2, 1}, // CR is a character of line 1
		{"a\n\n\nb", 4, 4, 1},
		{"\"é\"x", 4, 1, 4},         // é is two bytes, one column
		{"日本\n語x", 10, 2, 2},        // columns count characters on the line of at
		{"\xEF\xBB\xBF{}", 3, 1, 1}, // a byte order mark is not a column
		{"\xEF\xBB\xBF{}", 4, 1, 2},
		{"\xEF\xBB\xBF\n\xEF\xBB\xBFx", 7, 2, 2}, // only at the start of the file
		{"\xff\xfe", 2, 1, 3},                    // bytes that are not UTF-8 count one each
		{"ab", -5, 1, 1},                         // clamped
		{"a\nb", 99, 2, 2},
	} {
		line, col := LineCol([]byte(tc.data), tc.at)
		if line != tc.line || col != tc.col {
			t.Errorf("LineCol(%q, %d) = %d, %d; want %d, %d", tc.data, tc.at, line, col, tc.line, tc.col)
		}
	}
}

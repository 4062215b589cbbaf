package app

import "testing"

func TestParseSize(t *testing.T) {
	good := map[string]int64{"1": 1, "1048576": 1 << 20, "1M": 1 << 20, "1m": 1 << 20, "1MiB": 1 << 20, "1MB": 1 << 20,
		"4G": 4 << 30, " 2K ": 2 << 10, "3T": 3 << 40}
	for in, want := range good {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "1.5G", "M", "1X", "99999999999T", "1 M B", "0x10"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

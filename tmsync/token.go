package tmsync

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// parseTokenSecret reads the vendor token from a secret's plaintext,
// {"TM_TOKEN":"<token>"}. The error never quotes the secret.
func parseTokenSecret(name, plaintext string) (string, error) {
	var v map[string]any
	if err := json.Unmarshal([]byte(plaintext), &v); err != nil {
		return "", fmt.Errorf("secret %s: its plaintext is not a JSON object like {\"TM_TOKEN\":\"...\"}", name)
	}
	t, ok := v["TM_TOKEN"].(string)
	if !ok || strings.TrimSpace(t) == "" {
		return "", fmt.Errorf("secret %s: no non-empty string field TM_TOKEN", name)
	}
	return strings.TrimSpace(t), nil
}

// String prints Args without the vendor token, so that a log line or an error that
// formats them never carries it.
func (a Args) String() string {
	if a.SrcPassword != "" {
		a.SrcPassword = "REDACTED"
	}
	type plain Args // no String method: no recursion
	return fmt.Sprintf("%+v", plain(a))
}

// GoString is String for %#v.
func (a Args) GoString() string { return a.String() }

// LogValue keeps the token out of slog records.
func (a Args) LogValue() slog.Value { return slog.StringValue(a.String()) }

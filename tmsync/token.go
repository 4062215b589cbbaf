package tmsync

import (
	"encoding/json"
	"fmt"
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

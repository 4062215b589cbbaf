package ecrtarget

import (
	"fmt"
	"regexp"
	"strings"
)

// repositoryNameRE is ECR's own pattern for repository names.
var repositoryNameRE = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// RepositoryName joins the target prefix (leading and trailing "/" dropped, so the default
// "/3rdparty/tm/" reads "3rdparty/tm") and the destination repository of an image, and
// checks the result against ECR's rules: its pattern and 2 to 256 characters.
func RepositoryName(prefix, destRepository string) (string, error) {
	p := strings.Trim(prefix, "/")
	d := strings.Trim(destRepository, "/")
	name := d
	if p != "" {
		name = p + "/" + d
	}
	if d == "" {
		return "", fmt.Errorf("%w: empty destination repository (prefix %q)", ErrInvalidName, prefix)
	}
	if n := len(name); n < 2 || n > 256 {
		return "", fmt.Errorf("%w: %q has %d characters, ECR allows 2 to 256", ErrInvalidName, name, n)
	}
	if !repositoryNameRE.MatchString(name) {
		return "", fmt.Errorf("%w: %q (lower-case letters, digits and . _ - between path components)", ErrInvalidName, name)
	}
	return name, nil
}

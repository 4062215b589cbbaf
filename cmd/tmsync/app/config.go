package app

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"
)

// configFlag is --config: a YAML file of flag values (the flags' own names as keys);
// a flag on the command line or in its environment variable overrides it.
func configFlag() cli.Flag {
	return &cli.StringFlag{Name: "config", EnvVars: []string{"TMSYNC_CONFIG"}, Category: catRun,
		Usage: "YAML file of flag values, by flag name (flags and their environment variables override it)"}
}

// applyConfig reads --config and sets every flag it names that the command line and the
// environment did not. An unknown key or a value of the wrong kind is bad input, named
// by file and line.
func applyConfig(c *cli.Context) error { return applyConfigSkipping(c, nil) }

// applyConfigSkipping is applyConfig passing over the keys skip says yes to that are
// not flags of the command (nil: none).
func applyConfigSkipping(c *cli.Context, skip func(name string) bool) error {
	return readConfig(c, skip, false)
}

// configLeniently sets, from c's --config file, every flag of c's command it names that
// the command line and the environment did not, as applyConfig does, but passing over
// what applyConfig refuses (a key that is not a flag, a value of the wrong kind: the
// first value of a key given twice is taken) and a file that does not read: it tells a
// refusal which files the run would read, however bad the file.
func configLeniently(c *cli.Context) { _ = readConfig(c, nil, true) }

// readConfig is applyConfigSkipping, and with lenient configLeniently: every problem
// passed over (the key, or the value, it is in), nothing recorded for config show.
func readConfig(c *cli.Context, skip func(name string) bool, lenient bool) error {
	path := c.String("config")
	if path == "" {
		return nil
	}
	abs := absPath(path)
	// fail returns err, or passes over it (nil) when lenient.
	fail := func(err error) error {
		if lenient {
			return nil
		}
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fail(fmt.Errorf("reading --config %s: %w", abs, err))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fail(fmt.Errorf("--config %s: %w", abs, err))
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fail(fmt.Errorf("--config %s:%d: want a mapping of flag names to values", abs, root.Line))
	}
	known := map[string]cli.Flag{}
	var names []string
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			known[n] = f
			names = append(names, n)
		}
	}
	firstAt := map[string]int{} // the line of each key, by the flag it names
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		f, ok := known[k.Value]
		if ok {
			// A key given twice (or a flag under two of its names) is a mistake in the
			// file: neither value can be taken silently.
			canon := f.Names()[0]
			if line, dup := firstAt[canon]; dup {
				if err := fail(fmt.Errorf("--config %s:%d: %s given twice (first on line %d)", abs, k.Line, k.Value, line)); err != nil {
					return err
				}
				continue
			}
			firstAt[canon] = k.Line
		}
		if !ok && skip != nil && skip(k.Value) {
			continue
		}
		if !ok || k.Value == "config" {
			hint := ""
			if s := suggest(k.Value, names); s != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", s)
			}
			if err := fail(fmt.Errorf("--config %s:%d: no flag %q%s", abs, k.Line, k.Value, hint)); err != nil {
				return err
			}
			continue
		}
		if k.Value == "srcpasswd" {
			if err := fail(fmt.Errorf("--config %s:%d: the vendor token does not go in a file: use TM_TOKEN or the Secrets Manager secret", abs, k.Line)); err != nil {
				return err
			}
			continue
		}
		if c.IsSet(k.Value) {
			continue
		}
		if !lenient {
			if c.App.Metadata == nil {
				c.App.Metadata = map[string]any{}
			}
			set, _ := c.App.Metadata["config"].(map[string]bool)
			if set == nil {
				set = map[string]bool{}
				c.App.Metadata["config"] = set
			}
			set[k.Value] = true
		}
		var values []string
		switch v.Kind {
		case yaml.ScalarNode:
			values = []string{v.Value}
		case yaml.SequenceNode:
			if _, ok := f.(*cli.StringSliceFlag); !ok && !lenient {
				return fmt.Errorf("--config %s:%d: %s takes one value, not a list", abs, v.Line, k.Value)
			}
			for _, e := range v.Content {
				values = append(values, e.Value)
			}
		default:
			if err := fail(fmt.Errorf("--config %s:%d: %s: want a value or a list", abs, v.Line, k.Value)); err != nil {
				return err
			}
			continue
		}
		for _, val := range values {
			if _, ok := f.(*cli.BoolFlag); ok {
				if w, ok := boolWords[strings.ToLower(val)]; ok {
					val = w
				}
			}
			if err := c.Set(k.Value, val); err != nil {
				if err := fail(fmt.Errorf("--config %s:%d: %s: %v", abs, v.Line, k.Value, err)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// configCommand is `tmsync config show`: the settings a sync would run with, each with
// where it came from, the token redacted.
func configCommand(stdout, stderr io.Writer, cl *cmdline) *cli.Command {
	token := cl.token
	flags := append(modeFlags("sync"), configFlag())
	return &cli.Command{
		Name:  "config",
		Usage: "show the settings a run would use (flags, environment, --config file, defaults)",
		Subcommands: []*cli.Command{{
			Name:         "show",
			Usage:        "print each setting with where it comes from; the token redacted",
			Flags:        flags,
			OnUsageError: usageError(stderr),
			Before:       applyConfig,
			Action: func(c *cli.Context) error {
				// Printed through the redactor (the token, whatever flag holds it), and
				// with the credentials of a reference or URL masked (a registry or
				// address given as user:password@host, from a flag, the environment or
				// --config): such a value reads back as what it shows, not as the secret.
				stdout := redactingWriter{w: stdout, red: cl.red}
				fromFile, _ := c.App.Metadata["config"].(map[string]bool)
				if p := c.String("config"); p != "" {
					fmt.Fprintf(stdout, "# config file: %s\n", absPath(p))
				}
				var lines []string
				for _, f := range c.Command.Flags {
					name := f.Names()[0]
					// The token never goes in a file (applyConfig refuses it there): the
					// line at the end says where it comes from.
					if name == "help" || name == "config" || name == "srcpasswd" {
						continue
					}
					from := "default"
					switch {
					case fromFile[name]:
						from = "config"
					case c.IsSet(name):
						from = "flag or environment"
					}
					// A default is printed commented out: read back as --config, a key
					// would count as given (a settings file named by default is looked for
					// in the release folder; one given is used as given).
					key := name + ":"
					if from == "default" {
						key = "# " + key
					}
					v := c.Value(name)
					if credentialFlags[name] {
						v = maskValue(v)
					}
					lines = append(lines, fmt.Sprintf("%-38s %-40s # %s", key, yamlValue(v), from))
				}
				sort.Slice(lines, func(i, j int) bool {
					return strings.TrimPrefix(lines[i], "# ") < strings.TrimPrefix(lines[j], "# ")
				})
				switch {
				case c.String("srcpasswd") != "":
					lines = append(lines, "# vendor token: from --srcpasswd (REDACTED)")
				case token != "":
					lines = append(lines, "# vendor token: from TM_TOKEN (REDACTED)")
				case cl.blankTokenUsed(c):
					lines = append(lines, "# vendor token: TM_TOKEN is set but blank: a run refuses it")
				case cl.tokenBlank:
					lines = append(lines, "# vendor token: TM_TOKEN is set but blank, and not used (--from-bundle)")
				default:
					lines = append(lines, "# vendor token: not set; a run reads the Secrets Manager secret --src-token-secret")
				}
				fmt.Fprintln(stdout, strings.Join(lines, "\n"))
				// Shown, and said: values a run would refuse (checked as a run checks them),
				// a blank token. These settings would not start a run.
				errOut := redactingWriter{w: stderr, red: cl.red}
				bad := false
				if _, err := argsFromFlags(c, io.Discard); err != nil {
					for _, line := range strings.Split(err.Error(), "\n") {
						fmt.Fprintf(errOut, "ERROR: %s\n", line)
					}
					bad = true
				}
				if cl.blankTokenUsed(c) {
					fmt.Fprintf(errOut, "ERROR: %v\n", errTokenBlank)
					bad = true
				}
				if bad {
					return exitCode(2)
				}
				return nil
			},
		}},
	}
}

// credentialFlags are the flags whose value is a registry or an address, where
// credentials can be written as user:password@; only these are masked (a Secrets Manager
// secret's name, say, may hold ':' and '@' and must read back as it is).
var credentialFlags = map[string]bool{"srcdomain": true, "trg-registry": true, "insecure-registry": true,
	"src_attestions_address": true, "ecr-registry": true}

// maskValue is a flag's value with the credentials of a reference or URL in it masked
// (maskRef), for a string or each string of a list.
func maskValue(v any) any {
	switch x := v.(type) {
	case string:
		return maskRef(x)
	case cli.StringSlice:
		return *cli.NewStringSlice(maskRefs(x.Value())...)
	}
	return v
}

// yamlValue is a flag's value as YAML that applyConfig reads back to the same value:
// a list for a repeatable flag, a duration as it parses ("1m30s"), a string quoted when
// YAML would read it otherwise (":", "#", quotes, "true", "0x1", a leading space),
// on one line.
func yamlValue(v any) string {
	scalar := func(s string) *yaml.Node {
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
		if strings.ContainsAny(s, "\n\r\t") || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
			n.Style = yaml.DoubleQuotedStyle
		}
		return n
	}
	var n *yaml.Node
	switch v := v.(type) {
	case cli.StringSlice:
		n = &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, e := range v.Value() {
			n.Content = append(n.Content, scalar(e))
		}
	case time.Duration:
		n = scalar(v.String())
	case bool, int, int64, uint, uint64, float64:
		n = &yaml.Node{Kind: yaml.ScalarNode, Value: fmt.Sprint(v)}
	default:
		n = scalar(fmt.Sprint(v))
	}
	out, err := yaml.Marshal(n)
	if err != nil {
		return strconv.Quote(fmt.Sprint(v))
	}
	return strings.TrimSuffix(string(out), "\n")
}

package tmsync_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/tmsync"
)

const schemaPath = "../docs/report-schema.json"

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(schemaPath)
	must(t, err)
	var s map[string]any
	must(t, json.Unmarshal(data, &s))
	return s
}

// TestReportValidatesAgainstSchema checks a real report of a run with every outcome
// against docs/report-schema.json, and a few broken ones, which must not pass.
func TestReportValidatesAgainstSchema(t *testing.T) {
	schema := loadSchema(t)
	w := runAllOutcomes(t)
	w.report.Shard = &tmsync.Shard{Index: 0, Count: 2}
	w.report.Images[len(w.report.Images)-1].Scan = map[string]int{"HIGH": 1}
	w.report.Images[len(w.report.Images)-1].ScanStatus = "COMPLETE"
	path := filepath.Join(t.TempDir(), "report.json")
	must(t, w.report.WriteJSON(path))
	data, err := os.ReadFile(path)
	must(t, err)
	var doc any
	must(t, json.Unmarshal(data, &doc))
	v := &validator{root: schema}
	if errs := v.validate(schema, doc, "$"); len(errs) > 0 {
		t.Fatalf("the report does not validate:\n  %s", strings.Join(errs, "\n  "))
	}

	// The validator is not a rubber stamp.
	for name, mutate := range map[string]func(m map[string]any){
		"unknown field":   func(m map[string]any) { m["secret"] = "x" },
		"missing summary": func(m map[string]any) { delete(m, "summary") },
		"bad outcome":     func(m map[string]any) { m["images"].([]any)[0].(map[string]any)["outcome"] = "skipped" },
		"bad digest":      func(m map[string]any) { m["images"].([]any)[0].(map[string]any)["digest"] = "sha256:abc" },
		"bad version":     func(m map[string]any) { m["schemaVersion"] = 2.0 },
	} {
		var m map[string]any
		must(t, json.Unmarshal(data, &m))
		mutate(m)
		if errs := v.validate(schema, m, "$"); len(errs) == 0 {
			t.Errorf("%s: a broken report validates", name)
		}
	}
}

// TestReportSchemaCoversType holds the Go type and the schema together: every JSON field
// of Report, at every depth, is described in the schema, and every field the schema
// describes exists in the type.
func TestReportSchemaCoversType(t *testing.T) {
	schema := loadSchema(t)
	v := &validator{root: schema}
	var missing []string
	var walk func(rt reflect.Type, s map[string]any, path string)
	walk = func(rt reflect.Type, s map[string]any, path string) {
		s = v.resolve(s)
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice {
			rt = rt.Elem()
			if items, ok := s["items"].(map[string]any); ok {
				s = v.resolve(items)
			}
		}
		if rt.Kind() != reflect.Struct || rt.PkgPath() == "time" {
			return
		}
		props, _ := s["properties"].(map[string]any)
		inType := map[string]bool{}
		for i := range rt.NumField() {
			f := rt.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			inType[name] = true
			ps, ok := props[name].(map[string]any)
			if !ok {
				missing = append(missing, fmt.Sprintf("%s.%s (Go %s.%s) is not in the schema", path, name, rt.Name(), f.Name))
				continue
			}
			walk(f.Type, ps, path+"."+name)
		}
		for name := range props {
			if !inType[name] {
				missing = append(missing, fmt.Sprintf("%s.%s is in the schema but not in Go %s", path, name, rt.Name()))
			}
		}
	}
	walk(reflect.TypeOf(tmsync.Report{}), schema, "$")
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("schema and type disagree:\n  %s", strings.Join(missing, "\n  "))
	}
	if got := schema["properties"].(map[string]any)["schemaVersion"].(map[string]any)["const"]; got != float64(tmsync.ReportSchemaVersion) {
		t.Errorf("schema is for version %v, tmsync writes %d", got, tmsync.ReportSchemaVersion)
	}
}

// validator checks a document against the subset of JSON Schema that
// docs/report-schema.json uses: $ref to $defs, type, const, enum, properties, required,
// additionalProperties, items, pattern, minimum.
type validator struct{ root map[string]any }

func (v *validator) resolve(s map[string]any) map[string]any {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		if !ok {
			panic("unsupported $ref " + ref)
		}
		s = v.root["$defs"].(map[string]any)[name].(map[string]any)
	}
}

func (v *validator) validate(s map[string]any, doc any, at string) []string {
	s = v.resolve(s)
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, a...)) }
	if c, ok := s["const"]; ok && !reflect.DeepEqual(c, doc) {
		bad("%v, want %v", doc, c)
	}
	if e, ok := s["enum"].([]any); ok {
		found := false
		for _, x := range e {
			found = found || reflect.DeepEqual(x, doc)
		}
		if !found {
			bad("%v is not one of %v", doc, e)
		}
	}
	if typ, ok := s["type"].(string); ok && !hasType(doc, typ) {
		bad("%T, want %s", doc, typ)
		return errs
	}
	switch d := doc.(type) {
	case string:
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(d) {
			bad("%q does not match %s", d, p)
		}
	case float64:
		if m, ok := s["minimum"].(float64); ok && d < m {
			bad("%v < minimum %v", d, m)
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range d {
				errs = append(errs, v.validate(items, x, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, ok := d[r.(string)]; !ok {
					bad("missing required %s", r)
				}
			}
		}
		for k, x := range d {
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, v.validate(ps, x, at+"."+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					bad("unknown field %q", k)
				}
			case map[string]any:
				errs = append(errs, v.validate(ap, x, at+"."+k)...)
			}
		}
	}
	return errs
}

func hasType(doc any, typ string) bool {
	switch typ {
	case "object":
		_, ok := doc.(map[string]any)
		return ok
	case "array":
		_, ok := doc.([]any)
		return ok
	case "string":
		_, ok := doc.(string)
		return ok
	case "boolean":
		_, ok := doc.(bool)
		return ok
	case "number":
		_, ok := doc.(float64)
		return ok
	case "integer":
		f, ok := doc.(float64)
		return ok && f == float64(int64(f))
	}
	return false
}

// TestReportDocExample keeps the example in docs/report.md a valid report.
func TestReportDocExample(t *testing.T) {
	data, err := os.ReadFile("../docs/report.md")
	must(t, err)
	_, rest, ok := strings.Cut(string(data), "```json\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/report.md has no ```json example")
	}
	var doc any
	if err := json.Unmarshal([]byte(example), &doc); err != nil {
		t.Fatalf("the example is not JSON: %v", err)
	}
	schema := loadSchema(t)
	if errs := (&validator{root: schema}).validate(schema, doc, "$"); len(errs) > 0 {
		t.Fatalf("the example does not validate:\n  %s", strings.Join(errs, "\n  "))
	}
	var r tmsync.Report
	must(t, json.Unmarshal([]byte(example), &r))
}

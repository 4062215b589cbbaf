package ecrtarget

import (
	"bytes"
	"encoding/json"
	"path"
	"slices"
	"strings"
)

// writeActions are the ECR actions a repository policy can grant that change what a
// repository holds or how it is kept: pushing an image (its layer uploads and its
// manifest), deleting one, and changing the repository's own settings.
var writeActions = []string{
	"ecr:BatchDeleteImage",
	"ecr:BatchImportUpstreamImage",
	"ecr:CompleteLayerUpload",
	"ecr:DeleteLifecyclePolicy",
	"ecr:DeleteRepository",
	"ecr:DeleteRepositoryPolicy",
	"ecr:InitiateLayerUpload",
	"ecr:PutImage",
	"ecr:PutImageScanningConfiguration",
	"ecr:PutImageTagMutability",
	"ecr:PutLifecyclePolicy",
	"ecr:ReplicateImage",
	"ecr:SetRepositoryPolicy",
	"ecr:StartLifecyclePolicyPreview",
	"ecr:TagResource",
	"ecr:UntagResource",
	"ecr:UploadLayerPart",
}

// WriteGrant is one Allow statement of a repository policy that lets its principals
// change the repositories: its Sid ("" for none), its Principal as written (compact JSON),
// the action patterns as written ("NotAction: ..." for a NotAction), and the write actions
// they grant, sorted.
type WriteGrant struct {
	Sid, Principal string
	Patterns       []string
	Actions        []string
}

// WriteGrantStatements returns the statements of a repository policy that grant ECR
// actions changing a repository (push, delete, settings), in the policy's order; none
// for a policy that only lets principals pull (CrossAccountPullPolicy). Whoever such a
// statement names can put images into the repositories without tmsync, and so without
// the vendor's attestation: a run says so. Action patterns match as IAM matches them
// (case-insensitive, '*' and '?'); an Allow with NotAction grants every action it does not
// list. Conditions and Deny statements are not weighed: a grant under a condition is
// still a grant.
func WriteGrantStatements(policy string) []WriteGrant {
	var out []WriteGrant
	for _, st := range policyStatements(policy) {
		var effect string
		if json.Unmarshal(st["Effect"], &effect) != nil || !strings.EqualFold(effect, "Allow") {
			continue
		}
		actions, not := stringList(st["Action"]), false
		patterns := actions
		if raw, ok := st["NotAction"]; ok {
			actions, not = stringList(raw), true
			patterns = []string{"NotAction: " + strings.Join(actions, ", ")}
		}
		g := WriteGrant{Patterns: patterns}
		for _, w := range writeActions {
			if matchesAny(actions, w) != not {
				g.Actions = append(g.Actions, w)
			}
		}
		if len(g.Actions) == 0 {
			continue
		}
		_ = json.Unmarshal(st["Sid"], &g.Sid)
		if p, ok := st["Principal"]; ok {
			g.Principal = compactJSON(p)
		} else if p, ok := st["NotPrincipal"]; ok {
			g.Principal = "NotPrincipal " + compactJSON(p)
		}
		out = append(out, g)
	}
	return out
}

// compactJSON is raw without insignificant white space (raw when it does not parse).
func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// GrantsEveryone reports whether a repository policy has an Allow statement without a
// condition whose principal is "*" (anyone, in any account), or that names its principals
// by NotPrincipal (everyone but those).
func GrantsEveryone(policy string) bool {
	for _, st := range policyStatements(policy) {
		var effect string
		if json.Unmarshal(st["Effect"], &effect) != nil || !strings.EqualFold(effect, "Allow") || st["Condition"] != nil {
			continue
		}
		if _, ok := st["NotPrincipal"]; ok {
			return true
		}
		var star string
		if json.Unmarshal(st["Principal"], &star) == nil && star == "*" {
			return true
		}
		var byKind map[string]json.RawMessage
		if json.Unmarshal(st["Principal"], &byKind) == nil && slices.Contains(stringList(byKind["AWS"]), "*") {
			return true
		}
	}
	return false
}

// policyStatements are the statements of a policy document, each by its element names:
// the "Statement" element exactly (a struct's field would also take "statement", the last
// of the two winning, and read another list than AWS does), one statement or a list.
func policyStatements(policy string) []map[string]json.RawMessage {
	var doc map[string]json.RawMessage
	if json.Unmarshal([]byte(policy), &doc) != nil {
		return nil
	}
	raw := doc["Statement"]
	var stmts []map[string]json.RawMessage
	if json.Unmarshal(raw, &stmts) != nil {
		var one map[string]json.RawMessage
		if json.Unmarshal(raw, &one) != nil {
			return nil
		}
		stmts = []map[string]json.RawMessage{one}
	}
	return stmts
}

// stringList is a policy element that is one string or a list of strings.
func stringList(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return many
	}
	return nil
}

// matchesAny reports whether one of the IAM action patterns matches action.
func matchesAny(patterns []string, action string) bool {
	action = strings.ToLower(action)
	for _, p := range patterns {
		// IAM's wildcards are '*' and '?'; path.Match also reads '[...]' and '\\' (IAM
		// takes them literally, and no action name holds them): such a pattern may match
		// here where IAM would not, which only warns once more.
		if ok, err := path.Match(strings.ToLower(p), action); err == nil && ok {
			return true
		}
	}
	return false
}

package ecrtarget

import (
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

// WriteGrants returns the ECR actions that change a repository (push, delete, settings)
// which an Allow statement of the repository policy grants, sorted; none for a policy
// that only lets principals pull (CrossAccountPullPolicy). Whoever the policy lets push
// can put images into the repositories without tmsync, and so without the vendor's
// attestation: a run says so. Action patterns match as IAM matches them (case-insensitive,
// '*' and '?'); an Allow with NotAction grants every action it does not list. Conditions
// and Deny statements are not weighed: a grant under a condition is still a grant.
func WriteGrants(policy string) []string {
	stmts := policyStatements(policy)
	granted := map[string]bool{}
	for _, st := range stmts {
		var effect string
		if json.Unmarshal(st["Effect"], &effect) != nil || !strings.EqualFold(effect, "Allow") {
			continue
		}
		actions, not := stringList(st["Action"]), false
		if raw, ok := st["NotAction"]; ok {
			actions, not = stringList(raw), true
		}
		for _, w := range writeActions {
			if matchesAny(actions, w) != not {
				granted[w] = true
			}
		}
	}
	out := make([]string, 0, len(granted))
	for w := range granted {
		out = append(out, w)
	}
	slices.Sort(out)
	return out
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
		// IAM's wildcards are '*' and '?'; path.Match has those, and '[' and '\\' as
		// well, which no action name holds: a pattern with them matches nothing here.
		if ok, err := path.Match(strings.ToLower(p), action); err == nil && ok {
			return true
		}
	}
	return false
}

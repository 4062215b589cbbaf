package ecrtarget

import (
	"bytes"
	"encoding/json"
	"path"
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
// still a grant. The policy is read as LoadRepositoryPolicy reads it: one it refuses (an
// element name that is not IAM's, a key given twice, ...) has no statements here, and
// never reaches ECR (Settings are checked the same way before any call).
func WriteGrantStatements(policy string) []WriteGrant {
	stmts, _ := readPolicy([]byte(policy))
	var out []WriteGrant
	for _, st := range stmts {
		if !st.allow {
			continue
		}
		g := WriteGrant{Sid: st.sid, Patterns: st.actions}
		if st.notAction {
			g.Patterns = []string{"NotAction: " + strings.Join(st.actions, ", ")}
		}
		for _, w := range writeActions {
			if matchesAny(st.actions, w) != st.notAction {
				g.Actions = append(g.Actions, w)
			}
		}
		if len(g.Actions) == 0 {
			continue
		}
		switch {
		case st.notPrincipal:
			g.Principal = "NotPrincipal " + compactJSON(st.principal)
		case st.principal != nil:
			g.Principal = compactJSON(st.principal)
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
// by NotPrincipal (everyone but those). A Condition that tests no key is none. The policy
// is read as WriteGrantStatements reads it.
func GrantsEveryone(policy string) bool {
	stmts, _ := readPolicy([]byte(policy))
	for _, st := range stmts {
		if st.allow && !st.conditional && (st.notPrincipal || st.anyone) {
			return true
		}
	}
	return false
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

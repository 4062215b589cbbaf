package manifest_test

import (
	"errors"
	"fmt"
	"testing/fstest"

	"github.com/tmsync/tmsync/manifest"
)

func ExampleLoadFS() {
	folder := fstest.MapFS{
		"5.0.3_release.json": {Data: []byte(`{
  "version": "5.0.3",
  "metadata": {"images": {
    "vault/xpl/xpl_payees": {
      "source": "docker.external.thoughtmachine.io/vault/xpl/xpl_payees:5.0.3@sha256:0679e877ba204cede473782d5aba962831a3449092da120aba7d24082efe3fde",
      "dest": "vault/xpl/xpl_payees:5.0.3"
    },
    "grafana": {
      "source": "grafana/grafana@sha256:0679e877ba204cede473782d5aba962831a3449092da120aba7d24082efe3fde",
      "dest": "restricted/third_party/docker.io/grafana/grafana:vault-5.0.3"
    }
  }}
}`)},
		"3.3.11_byo_images.txt": {Data: []byte("# v4: resolved by tag at sync time\nvault/core:3.3.11\n")},
	}
	f, err := manifest.LoadFS(folder)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, img := range f.Images() {
		fmt.Printf("%s -> %s vendor=%v pinned=%v (%s)\n", img.Source.Pullable(), img.Dest, img.Vendor, img.Pinned(), img.Origin)
	}

	// A broken folder: every problem is reported, each with its place.
	folder["5.0.3_release.json"] = &fstest.MapFile{Data: []byte(`{"metadata": {"images": {
  "x": {"source": "docker.io/x/x:1", "dest": "X:1"}}}}`)}
	folder["3.3.11_byo_images.txt"] = &fstest.MapFile{Data: []byte("vault/core:3.3.11 grafana/grafana:11 extra\n")}
	_, err = manifest.LoadFS(folder)
	var problems manifest.Errors
	if errors.As(err, &problems) {
		fmt.Println(err)
	}
	// Output:
	// docker.external.thoughtmachine.io/vault/core:3.3.11 -> vault/core:3.3.11 vendor=true pinned=false (3.3.11_byo_images.txt:2)
	// docker.io/grafana/grafana@sha256:0679e877ba204cede473782d5aba962831a3449092da120aba7d24082efe3fde -> restricted/third_party/docker.io/grafana/grafana:vault-5.0.3 vendor=false pinned=true (5.0.3_release.json: metadata.images["grafana"])
	// docker.external.thoughtmachine.io/vault/xpl/xpl_payees@sha256:0679e877ba204cede473782d5aba962831a3449092da120aba7d24082efe3fde -> vault/xpl/xpl_payees:5.0.3 vendor=true pinned=true (5.0.3_release.json: metadata.images["vault/xpl/xpl_payees"])
	// 3.3.11_byo_images.txt:1:38: 3 fields; expected the image reference, and in a byo list the external location, separated by white space
	// 5.0.3_release.json: metadata.images["x"].source: "docker.io/x/x:1" has no digest; a release pins every image: expected a reference pinned by digest, like registry/repository[:tag]@sha256:<64 hex>
	// 5.0.3_release.json: metadata.images["x"].dest: dest "X:1": repository name must be lowercase; expected repository:tag relative to the target prefix, like vault/xpl/xpl_payees:5.0.3
}

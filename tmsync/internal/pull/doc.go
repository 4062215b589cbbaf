// Package pull wraps a containers/image source reference so that pulling from the
// vendor survives a flaky link and each blob crosses it at most once per run.
//
// containers/image has no transport hook, so the wrapper sits on the public
// types.ImageReference / types.ImageSource interfaces (Puller.Wrap) and is handed to
// copy.Image in place of the docker reference. It:
//
//   - serves a blob from the run's blobstore.Store when the store holds it;
//   - otherwise fetches it from the wrapped source and, when the caller marked the blob
//     as shared (Options.Keep), tees it into the store while streaming it, so that the
//     next image needing it (a refused mount, a retried image) reads it locally; a blob
//     needed once is streamed and not kept. Concurrent fetches of one kept blob are
//     coalesced by the store: one reads from the vendor, the others wait for it;
//   - retries each failed request by itself, with backoff: a 5xx, a 429, a connection
//     reset or refused, a body cut mid-way, a stall (no byte for Options.IdleTimeout).
//     A blob body that fails part-way is fetched again and the bytes already delivered
//     are skipped, so the consumer sees one unbroken stream;
//   - retries opening the source (the ping and the manifest fetch) and GetManifest the
//     same way, and keeps fetched manifests in the store (they are small, and the
//     air-gap bundle needs them).
//
// # What containers/image already does, and what is left to the wrapper
//
// Read from go.podman.io/image/v5 v5.42 (docker/body_reader.go, docker_client.go): the
// docker source retries a 429 on a request without a body by itself (5 tries, honouring
// Retry-After, at most 60 s each), and resumes a blob body cut by an unexpected EOF or a
// connection reset with a Range request: the first cut of each body always, later cuts
// only after 1 MiB or 60 s of progress. It does not retry a 5xx, a reset before the
// answer, a failed Range request, a second quick cut, and it has no idle timeout: a
// stalled body hangs until the caller's context ends. Those are what the wrapper adds.
// The wrapper cannot send a Range request itself (the docker source does not expose
// one), so its own resume re-fetches the blob and discards the prefix: it costs the
// prefix again on the vendor link, but only after containers/image's own Range resume
// failed, or after a stall.
//
// The idle timer runs only while the wrapper waits on the vendor: a slow consumer (the
// target upload) does not count as a stall.
//
// # Wiring into a copy engine
//
// Once per run:
//
//	store, err := blobstore.Open(blobstore.Options{Dir: cacheDir, MaxBytes: bound}) // Dir "": temporary
//	defer store.Close()
//	var plan schedule.Plan
//	puller, err := pull.New(pull.Options{Store: store, OnRetry: logRetry,
//		Keep: func(d digest.Digest) bool { return plan.Shared(d) }})
//	for each image: infos, err := puller.ImageBlobs(ctx, srcRef, srcSys) // -> schedule.Image
//	plan = schedule.Make(images) // before any copy starts
//	start image i when every image in plan.After[i] has ended (copied or failed)
//
// Per image, in place of the source reference given to copy.Image:
//
//	src = puller.Wrap(src)
//
// and, for the air-gap bundle, store.AddImage(desc, destName, annotations) after it.
//
// The package knows the containers/image interfaces and blobstore, nothing of tmsync's
// engine.
package pull

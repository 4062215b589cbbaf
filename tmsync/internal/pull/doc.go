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
//     A blob body that fails part-way is resumed at the first byte not yet delivered,
//     with a Range request (see below), so the consumer sees one unbroken stream and
//     the vendor sends each byte about once;
//   - reads a kept blob that its reader leaves part-way (copy.Image, when the target
//     failed the upload or the copy was cut) on to its end into the store, in the
//     background, on the same download when it is still open (the bytes already in
//     flight are not sent again) or with a Range request for the rest; the source is
//     closed once that is done, and Puller.Close stops what is left at the end of the
//     run. The image's retry, and every other image needing the blob, read it there;
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
//
// # Range resumes
//
// The docker source also has GetBlobAt (for zstd:chunked partial pulls): it sends
// "Range: bytes=N-" with the source's own client (auth, mirrors, TLS), passes a 206
// body through, and turns a 200 (the server ignored Range) into the asked bytes by
// skipping the prefix itself. Its chunk type is in an internal package, so the wrapper
// reaches it by reflection (range.go), only when its signature is exactly the one of
// v5.42; TestRangeGetterPinsContainersImage fails if an update changes it. The wrapper
// resumes a cut or stalled blob with one chunk {Offset: delivered, Length: to the end},
// and reads GetBlobAt's error channel after the stream. It falls back to fetching the
// blob again from byte 0 and skipping the prefix, for the rest of that blob, when the
// source has no usable GetBlobAt (SupportsGetBlobAt false, another transport), when
// the Range request is refused (400 BadPartialRequest, 416, ...), when the server
// ignored it (the prefix crossed the link anyway), when GetBlobAt reports an error
// after a short stream, or when no stream came within the idle timeout (a server
// skipping a long prefix cannot be told from a stall there). Stats.RangeResumes and
// RangeFallbacks count them; RefetchedBytes counts only bytes the vendor sent again.
// Measured on the registry behind a proxy that stalls an 8 MiB layer at 6 MiB: the
// vendor sent 1.00× the layer, against 1.75× with the refetch (cut twice at 3 and 3.5
// MiB: 1.00× against 1.44×; at the last byte: 1.00× against 2.00×).
//
// The bytes after a Range resume are verified like the others: the store's Writer
// checks the digest of a kept blob before it is committed, and copy.Image checks the
// digest of every blob it pushes. GetBlobAt does not check Content-Range (the
// docker source's own resume does), so a server answering from another offset is
// caught only there: the copy fails, nothing is stored. An answer longer than the
// blob's size fails the read at once.
//
// # Lengths
//
// Every blob is held to the size its manifest declares (types.BlobInfo.Size; the
// manifest is the one the vendor's attestation binds): an answer announcing another
// Content-Length is refused before a byte is read, and a body without a length
// (chunked) is cut at the first byte beyond the declared size, none of that Read
// delivered. Without this, a source sending bytes without end would be uploaded to the
// target without end (copy.Image checks the digest only at the end of the stream, and
// the idle timer sees a moving body). Both are SizeError and not retried. A blob whose
// manifest gives no size (schema 1) is read as the source sends it.
//
// The idle timer runs only while the wrapper waits on the vendor: a slow consumer (the
// target upload) does not count as a stall. containers/image sleeps about 1 s before
// its own resume of a first cut; an IdleTimeout below that cuts that resume, and the
// wrapper resumes with its own Range request instead (no byte is lost either way).
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
// The package knows the containers/image interfaces and blobstore, nothing of tmsync's
// engine.
package pull

package tmsync

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/tmsync/internal/blobstore"
	"github.com/tmsync/tmsync/tmsync/internal/pull"
	"github.com/tmsync/tmsync/tmsync/internal/schedule"
)

// DefaultIdleTimeout is how long a source or target transfer may move no byte before it
// is cut and retried (WithIdleTimeout).
const DefaultIdleTimeout = pull.DefaultIdleTimeout

// MinIdleTimeout is the shortest idle timeout WithIdleTimeout takes: below it, ordinary
// pauses (a registry's answer to a commit, a scheduler's hiccup) would cut transfers that
// are moving, and a run would spend itself cutting and retrying (1ms for 1m, say).
const MinIdleTimeout = time.Second

// storeSlack is added to the default bound of the run's store: the manifests and
// configs kept beside the shared layers.
const storeSlack = 8 << 20

// Transfer is what a run's data path did, or (plan) would do: how many bytes the
// release holds, what crossed the source link, the local store, and ECR's blob mounting.
type Transfer struct {
	// DistinctBytes is the blobs (configs and layers) of the images to copy, each counted
	// once; SharedBytes those carried by more than one image. Images already present
	// are not counted.
	DistinctBytes int64 `json:"distinctBytes"`
	SharedBytes   int64 `json:"sharedBytes"`
	// MountSavingsBytes is what cross-repository mounts save on the uploads: the bytes of
	// the blobs every image carries, less the distinct bytes.
	MountSavingsBytes int64 `json:"mountSavingsBytes"`
	// BlobMounting is ECR's account setting BLOB_MOUNTING ("ENABLED", "DISABLED"); ""
	// when the target is not ECR or the setting could not be read. BlobMountingEnabled
	// says this run turned it on (WithEnableBlobMounting).
	BlobMounting        string `json:"blobMounting,omitempty"`
	BlobMountingEnabled bool   `json:"blobMountingEnabled,omitempty"`
	// SourceBytes is the blob bytes read from the source registries (retries included),
	// SourceRequests the blob requests; Retries the source requests retried, IdleCuts
	// those cut by the idle timeout. TargetIdleCuts is the copies cut because their
	// target took no byte and sent no answer for the idle timeout (tried again).
	SourceBytes    int64 `json:"sourceBytes"`
	SourceRequests int64 `json:"sourceRequests"`
	Retries        int64 `json:"retries"`
	IdleCuts       int64 `json:"idleCuts"`
	TargetIdleCuts int64 `json:"targetIdleCuts"`
	// Store is the run's local blob store.
	Store *StoreRecord `json:"store,omitempty"`
}

// StoreRecord is the run's local blob store (an OCI image layout).
type StoreRecord struct {
	// Dir is the store's folder when it is kept (WithCacheDir); a temporary store is
	// removed at the end of the run and not named.
	Dir  string `json:"dir,omitempty"`
	Kept bool   `json:"kept"`
	// Bytes and Blobs are what it held at the end (its peak: nothing is removed during
	// a run); MaxBytes its bound.
	Bytes    int64 `json:"bytes"`
	Blobs    int   `json:"blobs"`
	MaxBytes int64 `json:"maxBytes"`
	// Reused is the blobs found in a kept store at the start; ServedBytes the bytes read
	// from the store instead of the source.
	Reused      int   `json:"reused"`
	ServedBytes int64 `json:"servedBytes"`
	// KeptAll: a copy failed in the run, and from then on every blob read from the
	// source was kept, so that a retry (after a target failure, say) read it from the
	// store instead of pulling it again.
	KeptAll bool `json:"keptAll,omitempty"`
}

// keepAfterFailure is called when a copy's try has failed for a temporary reason
// (Retryable) and the image will be tried again: from now on the run keeps every blob
// it reads from the source, not only the shared ones, so that the retry of a copy the
// target failed (an upload cut, a 5xx on its commit) uploads again from the local store
// instead of pulling the blob across the vendor link again. A run without such a
// failure pays nothing for it; the blobs needed once that the failed try was streaming
// are pulled once more (a kept blob left part-way is read on into the store by the
// puller: pull's blobReader.Close). The store's bound grows to the release's distinct
// bytes first, so that the blobs needed once never take the room of a shared one. Not
// with a kept store
// (WithCacheDir: it keeps every blob already), nor under a bound of the operator's
// (WithCacheMaxBytes: the room goes to the shared blobs, which save the most).
func (r *run) keepAfterFailure() {
	dp := r.dp
	if dp == nil || dp.store == nil || r.o.imageSource != nil || r.o.cacheDir != "" || r.o.cacheMaxBytes != 0 {
		return
	}
	dp.keepOnce.Do(func() {
		bound := dp.plan.DistinctBytes + storeSlack
		dp.store.SetMaxBytes(bound)
		dp.keepAll.Store(true) // after the bound: Keep says yes only once there is room
		r.o.observer.Event(Event{Kind: EventInfo, Message: fmt.Sprintf(
			"a copy failed: every blob read from the source from now on is kept in the local store (bound %s), so that a retry does not pull it again",
			HumanBytes(bound))})
	})
}

// blobMountingTimeout bounds reading (and, when asked, changing) the mount setting.
const blobMountingTimeout = 15 * time.Second

// blobMountingReader is implemented by targets with an account-wide mount switch (ECR).
type blobMountingReader interface {
	BlobMounting(ctx context.Context) (bool, error)
	EnableBlobMounting(ctx context.Context) error
}

// dataPath is a run's store, puller and copy plan.
type dataPath struct {
	store  *blobstore.Store
	puller *pull.Puller
	plan   schedule.Plan
	// keepAll: a copy has failed in this run (keepAfterFailure), and every blob read
	// from the source from then on is kept in the store, not only the shared ones.
	keepAll  atomic.Bool
	keepOnce sync.Once
}

// openDataPath opens the run's store (kept in WithCacheDir's folder, else temporary)
// and puller. Close with closeDataPath.
func (r *run) openDataPath() (*dataPath, error) {
	dp := &dataPath{}
	if r.mode == ModeSync {
		dp.store = r.store // kept: opened by openStore
		if dp.store == nil {
			st, err := blobstore.Open(blobstore.Options{TempParent: r.o.storeParent})
			if err != nil {
				return nil, err
			}
			dp.store = st
		}
	}
	po := pull.Options{Store: dp.store, IdleTimeout: r.o.idleTimeout,
		Keep: func(d digest.Digest) bool {
			// A kept store keeps everything, so that a rerun pulls nothing again; a
			// temporary one what more than one image needs, and everything once a copy
			// has failed in the run (keepAfterFailure).
			return r.o.cacheDir != "" || dp.plan.Shared(d) || dp.keepAll.Load()
		},
		OnRetry: func(rt pull.Retry) {
			r.o.logger.Warn("source request retried", "op", rt.Op, "digest", rt.Digest.String(),
				"attempt", rt.Attempt, "wait", rt.Wait.String(), "error", rt.Err.Error())
		}}
	if r.o.pullHook != nil {
		r.o.pullHook(&po)
	}
	p, err := pull.New(po)
	if err != nil {
		if dp.store != nil {
			_ = dp.store.Close()
		}
		return nil, err
	}
	dp.puller = p
	return dp, nil
}

// openStore opens the kept store (WithCacheDir), taking its folder's lock, at the start
// of a sync: a folder that is neither empty nor a store, one with links in its layout,
// or one another run is using (blobstore.ErrNotStore, ErrUnsafeLayout, ErrLocked) is a
// *StartError before any repository or tag is created. A temporary store is made later,
// when there is something to copy (openDataPath).
func (r *run) openStore(context.Context) error {
	if r.o.cacheDir == "" {
		return nil
	}
	st, err := blobstore.Open(blobstore.Options{Dir: r.o.cacheDir})
	if err != nil {
		return startErr("checking the cache folder", err)
	}
	if err := st.Unlocked(); err != nil {
		r.o.observer.Event(Event{Kind: EventWarn, Message: err.Error() + ": do not point two runs at it at once"})
	}
	r.store = st
	return nil
}

// closeStore closes the kept store when no copy did (a run with nothing to copy, or
// stopped before): Store.Close is idempotent, so after closeDataPath it does nothing.
func (r *run) closeStore() {
	if r.store != nil {
		if err := r.store.Close(); err != nil {
			r.o.logger.Warn("closing the blob store", "error", err.Error())
		}
	}
}

// planCopies reads the blobs of every item to copy (through the puller: its manifests
// land in the store) and orders the copies leader-first. It fills the report's Transfer.
func (r *run) planCopies(ctx context.Context, dp *dataPath, todo []*item) {
	images := make([]schedule.Image, len(todo))
	var mu sync.Mutex
	var carried int64
	pos := make(map[*item]int, len(todo)) // the position of each item in the plan
	for i, it := range todo {
		pos[it] = i
	}
	forEach(ctx, todo, r.o.lookupConcurrency, func(ctx context.Context, it *item) {
		i := pos[it]
		ref, sys, err := r.sourceRef(ctx, it)
		if err != nil {
			return
		}
		infos, err := dp.puller.ImageBlobs(ctx, ref, sys)
		if err != nil {
			// The copy will meet the same error and report it; the image is planned
			// without blobs (it waits for nobody, leads nothing).
			r.o.logger.Warn("reading the blobs of an image", "image", it.img.Dest.String(), "error", err.Error())
			return
		}
		im := schedule.Image{Repository: it.repo}
		var n int64
		for _, b := range infos {
			im.Blobs = append(im.Blobs, schedule.Blob{Digest: b.Digest, Size: b.Size})
			n += b.Size
		}
		mu.Lock()
		images[i] = im
		carried += n
		it.size = n
		if r.mode == ModePlan {
			it.rec.Size = n
		}
		mu.Unlock()
	})
	dp.plan = schedule.Make(images)
	t := r.transfer()
	t.DistinctBytes, t.SharedBytes = dp.plan.DistinctBytes, dp.plan.SharedBytes
	t.MountSavingsBytes = carried - dp.plan.DistinctBytes
	if dp.store != nil {
		bound := r.o.cacheMaxBytes
		if bound == 0 {
			bound = dp.plan.SharedBytes + storeSlack
			if r.o.cacheDir != "" {
				bound = dp.plan.DistinctBytes + storeSlack
			}
		}
		dp.store.SetMaxBytes(bound)
		t.Store = &StoreRecord{MaxBytes: bound, Kept: r.o.cacheDir != ""}
	}
	if msg := t.mountingMessage(); msg != "" {
		r.o.observer.Event(Event{Kind: EventInfo, Message: msg})
	}
	r.o.observer.Event(Event{Kind: EventPlanned, Total: len(todo), Bytes: carried})
	r.o.logger.Info("copy plan", "images", len(todo), "leaders", len(dp.plan.Leaders),
		"distinctBytes", dp.plan.DistinctBytes, "sharedBytes", dp.plan.SharedBytes)
}

// closeDataPath records what the data path did and closes the store (removing it unless
// it is kept).
func (r *run) closeDataPath(dp *dataPath) {
	// Blobs still being read on to the store for a retry (pull.Puller.Close): no copy is
	// left to need them.
	dp.puller.Close()
	t := r.transfer()
	ps := dp.puller.Stats()
	t.SourceBytes, t.SourceRequests, t.Retries, t.IdleCuts = ps.VendorBytes, ps.VendorGets, ps.Retries, ps.IdleCuts
	if ps.Finished > 0 {
		r.o.logger.Info("kept blobs left part-way by a failed upload were read on into the store",
			"blobs", ps.Finished, "bytes", ps.FinishedBytes)
	}
	if r.watches != nil {
		t.TargetIdleCuts = r.watches.cuts.Load()
	}
	if dp.store == nil {
		return
	}
	st := dp.store.Stats()
	if t.Store == nil {
		t.Store = &StoreRecord{Kept: r.o.cacheDir != ""}
	}
	t.Store.Bytes, t.Store.Blobs, t.Store.Reused, t.Store.ServedBytes = st.Bytes, st.Blobs, st.Reused, ps.StoreBytes
	t.Store.MaxBytes = dp.store.MaxBytes()
	t.Store.KeptAll = dp.keepAll.Load()
	if t.Store.Kept {
		t.Store.Dir = dp.store.Dir()
	}
	if err := dp.store.Close(); err != nil {
		r.o.logger.Warn("closing the blob store", "error", err.Error())
	}
	msg := fmt.Sprintf("blob store: %s in %d blobs (bound %s), %s served from it", HumanBytes(st.Bytes), st.Blobs,
		HumanBytes(t.Store.MaxBytes), HumanBytes(ps.StoreBytes))
	if t.Store.Kept {
		msg += ", kept in " + t.Store.Dir
	} else {
		msg += ", removed"
	}
	r.o.observer.Event(Event{Kind: EventInfo, Message: msg})
}

func (r *run) transfer() *Transfer {
	if r.rep.Transfer == nil {
		r.rep.Transfer = &Transfer{}
	}
	return r.rep.Transfer
}

// blobMounting reads the target's mount switch into the report and, with
// WithEnableBlobMounting, turns it on in a sync. It never changes it otherwise.
func (r *run) blobMounting(ctx context.Context) {
	bm, ok := r.target.(blobMountingReader)
	if !ok {
		return
	}
	t := r.transfer()
	// The setting only informs the report and the plan: a slow or failing account API
	// (retried by the SDK) must not hold the run up.
	rctx, cancel := context.WithTimeout(ctx, blobMountingTimeout)
	defer cancel()
	on, err := bm.BlobMounting(rctx)
	if err != nil {
		r.o.logger.Warn("reading ECR's BLOB_MOUNTING account setting", "error", err.Error())
		r.o.observer.Event(Event{Kind: EventWarn, Message: "could not read ECR's BLOB_MOUNTING account setting: " + err.Error()})
		return
	}
	if !on && r.o.enableBlobMounting && r.mode == ModeSync {
		if err := bm.EnableBlobMounting(rctx); err != nil {
			r.o.observer.Event(Event{Kind: EventWarn, Message: "could not turn ECR's BLOB_MOUNTING on: " + err.Error()})
		} else {
			on, t.BlobMountingEnabled = true, true
			r.o.observer.Event(Event{Kind: EventInfo, Message: "ECR account setting BLOB_MOUNTING turned on (--enable-blob-mounting)"})
		}
	}
	t.BlobMounting = "DISABLED"
	if on {
		t.BlobMounting = "ENABLED"
	}
}

// mountingOff reports whether the target is known not to mount blobs across
// repositories: ECR with BLOB_MOUNTING read as off (and not turned on by this run).
func (r *run) mountingOff() bool {
	return r.rep.Transfer != nil && r.rep.Transfer.BlobMounting == "DISABLED"
}

// mountingMessage says what the plan found about mounting, for the console.
func (t *Transfer) mountingMessage() string {
	switch t.BlobMounting {
	case "ENABLED":
		return fmt.Sprintf("ECR BLOB_MOUNTING is on: shared layers are mounted, saving %s of uploads", HumanBytes(t.MountSavingsBytes))
	case "DISABLED":
		return fmt.Sprintf("ECR BLOB_MOUNTING is off: turning it on (--enable-blob-mounting) would save %s of uploads", HumanBytes(t.MountSavingsBytes))
	}
	return ""
}

// readBlobMounting is the run step of blobMounting.
func (r *run) readBlobMounting(ctx context.Context) error {
	r.blobMounting(ctx)
	return nil
}

// planTransfer plans the copies a sync would make, without a store, and says what
// mounting would save.
func (r *run) planTransfer(ctx context.Context) error {
	todo := r.pending()
	if len(todo) == 0 {
		return nil
	}
	dp, err := r.openDataPath()
	if err != nil {
		return startErr("planning the copies", err)
	}
	r.planCopies(ctx, dp, todo)
	r.o.observer.Event(Event{Kind: EventInfo, Message: fmt.Sprintf("plan: %s distinct (%s shared by several images) to pull once",
		HumanBytes(r.rep.Transfer.DistinctBytes), HumanBytes(r.rep.Transfer.SharedBytes))})
	return nil
}

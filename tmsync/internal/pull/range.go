package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"

	"go.podman.io/image/v5/types"
)

// rangeFunc fetches a blob from offset to its end: GetBlobAt of the wrapped source with
// one chunk {Offset: offset, Length: math.MaxUint64}. It returns GetBlobAt's results:
// a channel of (here) one stream, and a channel that may carry an error, to be read
// after the stream.
type rangeFunc func(ctx context.Context, info types.BlobInfo, offset uint64) (chan io.ReadCloser, chan error, error)

var (
	ctxType      = reflect.TypeFor[context.Context]()
	blobInfoType = reflect.TypeFor[types.BlobInfo]()
	streamsType  = reflect.TypeFor[chan io.ReadCloser]()
	errsType     = reflect.TypeFor[chan error]()
	errorType    = reflect.TypeFor[error]()
	uint64Type   = reflect.TypeFor[uint64]()
)

// rangeGetter returns src's ranged fetch, or an error saying why there is none.
//
// containers/image's docker source has
//
//	GetBlobAt(ctx context.Context, info types.BlobInfo, chunks []private.ImageSourceChunk) (chan io.ReadCloser, chan error, error)
//	SupportsGetBlobAt() bool
//
// (go.podman.io/image/v5 v5.42, docker/docker_image_src.go): it sends
// "Range: bytes=N-", passes a 206 body through, and turns a 200 (Range ignored) into
// the asked bytes by skipping the prefix itself. private.ImageSourceChunk lives in an
// internal package, so the method is reached by reflection, and only when its shape is
// exactly that: the chunk a struct of exactly two uint64 fields, Offset and Length.
// TestRangeGetterPinsContainersImage fails if a containers/image update changes it.
func rangeGetter(src any) (rangeFunc, error) {
	v := reflect.ValueOf(src)
	if !v.IsValid() {
		return nil, errors.New("no source")
	}
	sup := v.MethodByName("SupportsGetBlobAt")
	if !sup.IsValid() {
		return nil, errors.New("no SupportsGetBlobAt method")
	}
	if t := sup.Type(); t.NumIn() != 0 || t.NumOut() != 1 || t.Out(0) != reflect.TypeFor[bool]() {
		return nil, fmt.Errorf("SupportsGetBlobAt has an unexpected signature %s", t)
	}
	m := v.MethodByName("GetBlobAt")
	if !m.IsValid() {
		return nil, errors.New("no GetBlobAt method")
	}
	t := m.Type()
	if t.IsVariadic() || t.NumIn() != 3 || t.NumOut() != 3 ||
		t.In(0) != ctxType || t.In(1) != blobInfoType || t.In(2).Kind() != reflect.Slice ||
		t.Out(0) != streamsType || t.Out(1) != errsType || t.Out(2) != errorType {
		return nil, fmt.Errorf("GetBlobAt has an unexpected signature %s", t)
	}
	chunk := t.In(2).Elem()
	if chunk.Kind() != reflect.Struct || chunk.NumField() != 2 {
		return nil, fmt.Errorf("GetBlobAt's chunk %s is not a struct of two fields", chunk)
	}
	off, okOff := chunk.FieldByName("Offset")
	length, okLen := chunk.FieldByName("Length")
	if !okOff || !okLen || off.Type != uint64Type || length.Type != uint64Type || !off.IsExported() || !length.IsExported() {
		return nil, fmt.Errorf("GetBlobAt's chunk %s is not {Offset, Length uint64}", chunk)
	}
	if !sup.Call(nil)[0].Bool() {
		return nil, errors.New("SupportsGetBlobAt is false")
	}
	return func(ctx context.Context, info types.BlobInfo, offset uint64) (chan io.ReadCloser, chan error, error) {
		chunks := reflect.MakeSlice(t.In(2), 1, 1)
		c := chunks.Index(0)
		c.FieldByIndex(off.Index).SetUint(offset)
		c.FieldByIndex(length.Index).SetUint(math.MaxUint64)
		out := m.Call([]reflect.Value{reflect.ValueOf(&ctx).Elem(), reflect.ValueOf(info), chunks})
		streams, _ := out[0].Interface().(chan io.ReadCloser)
		errs, _ := out[1].Interface().(chan error)
		err, _ := out[2].Interface().(error)
		if err == nil && (streams == nil || errs == nil) {
			return nil, nil, errors.New("GetBlobAt returned no channels")
		}
		return streams, errs, err
	}, nil
}

// skippedByClient reports whether a GetBlobAt stream comes from a 200 answer, where the
// server ignored Range and containers/image skipped the prefix itself: that stream is a
// signalCloseReader with consumeStream set (a 206 gives the body itself, or a
// multipart part). Used only to count the bytes sent again; if containers/image
// changes, the count misses them (TestRangeIgnoredByServer then fails).
func skippedByClient(rc io.ReadCloser) bool {
	v := reflect.ValueOf(rc)
	if v.Kind() != reflect.Struct || v.Type().Name() != "signalCloseReader" {
		return false
	}
	f := v.FieldByName("consumeStream")
	return f.IsValid() && f.Kind() == reflect.Bool && f.Bool()
}

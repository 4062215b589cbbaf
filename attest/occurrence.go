package attest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// Occurrence is one Grafeas v1beta1 occurrence of the attestor note, as served.
type Occurrence struct {
	Name        string // "projects/<p>/occurrences/<id>"
	ResourceURI string // resource.uri: "https://host/repo@sha256:<hex>"
	NoteName    string // "projects/<p>/notes/<note>"
	Kind        string // "ATTESTATION"
	CreateTime  string // as served, informational only
	// Raw is the occurrence exactly as served; bundles keep it, and Verify reads the
	// attestation from it.
	Raw json.RawMessage
}

// occurrenceJSON is the tolerant reading of an occurrence: listed fields only, the rest is
// kept in Raw.
type occurrenceJSON struct {
	Name     string `json:"name"`
	Resource *struct {
		URI string `json:"uri"`
	} `json:"resource"`
	ResourceURI string `json:"resourceUri"` // Grafeas v1 spelling, read as a fallback
	NoteName    string `json:"noteName"`
	Kind        string `json:"kind"`
	CreateTime  string `json:"createTime"`
	Attestation *struct {
		Attestation *attestationJSON `json:"attestation"`
	} `json:"attestation"`
}

type attestationJSON struct {
	PGP     *pgpSignedJSON     `json:"pgpSignedAttestation"`
	Generic *genericSignedJSON `json:"genericSignedAttestation"`
}

type pgpSignedJSON struct {
	Signature   string `json:"signature"`
	ContentType string `json:"contentType"`
	PGPKeyID    string `json:"pgpKeyId"`
}

type genericSignedJSON struct {
	ContentType       string `json:"contentType"`
	SerializedPayload string `json:"serializedPayload"`
	Signatures        []struct {
		PublicKeyID string `json:"publicKeyId"`
		Signature   string `json:"signature"`
	} `json:"signatures"`
}

// maxOccurrenceBytes bounds one occurrence; real ones are a few KiB.
const maxOccurrenceBytes = 1 << 20

// ParseOccurrence reads one occurrence as served. It checks the shape only; nothing in it is
// trusted before [Verifier.Verify].
func ParseOccurrence(raw []byte) (Occurrence, error) {
	if len(raw) > maxOccurrenceBytes {
		return Occurrence{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(raw))
	}
	var j occurrenceJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return Occurrence{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	o := Occurrence{
		Name:       j.Name,
		NoteName:   j.NoteName,
		Kind:       j.Kind,
		CreateTime: j.CreateTime,
		Raw:        append(json.RawMessage(nil), bytes.TrimSpace(raw)...),
	}
	if j.Resource != nil {
		o.ResourceURI = j.Resource.URI
	} else {
		o.ResourceURI = j.ResourceURI
	}
	if o.ResourceURI == "" {
		return Occurrence{}, fmt.Errorf("%w: occurrence %q has no resource.uri", ErrMalformed, o.Name)
	}
	return o, nil
}

// signedMessage is one signature to check: the OpenPGP message bytes (armored or binary),
// the payload it must contain when the occurrence gives one, and the key it claims.
type signedMessage struct {
	message []byte
	payload []byte // nil when the occurrence has no serializedPayload
	keyID   string // publicKeyId / pgpKeyId, may be empty
	err     error  // decoding failure of this signature, reported as its reason
}

// signedMessages extracts the signatures of an occurrence, in either form.
func (o Occurrence) signedMessages() ([]signedMessage, error) {
	var j occurrenceJSON
	if err := json.Unmarshal(o.Raw, &j); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if j.Attestation == nil || j.Attestation.Attestation == nil {
		return nil, fmt.Errorf("%w: no attestation.attestation", ErrNoSignature)
	}
	a := j.Attestation.Attestation
	switch {
	case a.PGP != nil && a.Generic != nil:
		return nil, fmt.Errorf("%w: both pgpSignedAttestation and genericSignedAttestation", ErrMalformed)
	case a.PGP != nil:
		if err := checkContentType(a.PGP.ContentType); err != nil {
			return nil, err
		}
		if strings.TrimSpace(a.PGP.Signature) == "" {
			return nil, fmt.Errorf("%w: empty pgpSignedAttestation.signature", ErrNoSignature)
		}
		m := signedMessage{keyID: a.PGP.PGPKeyID}
		// The field is a string: normally armored text; tolerate base64 of a binary message.
		if strings.Contains(a.PGP.Signature, "-----BEGIN ") {
			m.message = []byte(a.PGP.Signature)
		} else if b, err := decodeBase64(a.PGP.Signature); err == nil {
			m.message = b
		} else {
			m.err = fmt.Errorf("%w: pgpSignedAttestation.signature is neither armor nor base64", ErrBadEncoding)
		}
		return []signedMessage{m}, nil
	case a.Generic != nil:
		if err := checkContentType(a.Generic.ContentType); err != nil {
			return nil, err
		}
		if len(a.Generic.Signatures) == 0 {
			return nil, fmt.Errorf("%w: genericSignedAttestation.signatures is empty", ErrNoSignature)
		}
		var payload []byte
		if a.Generic.SerializedPayload != "" {
			p, err := decodeBase64(a.Generic.SerializedPayload)
			if err != nil {
				return nil, fmt.Errorf("%w: serializedPayload: %v", ErrBadEncoding, err)
			}
			payload = p
		}
		ms := make([]signedMessage, 0, len(a.Generic.Signatures))
		for i, s := range a.Generic.Signatures {
			m := signedMessage{payload: payload, keyID: s.PublicKeyID}
			b, err := decodeBase64(s.Signature)
			switch {
			case err != nil:
				m.err = fmt.Errorf("%w: signatures[%d].signature: %v", ErrBadEncoding, i, err)
			case len(b) == 0:
				m.err = fmt.Errorf("%w: signatures[%d].signature is empty", ErrNoSignature, i)
			}
			m.message = b
			ms = append(ms, m)
		}
		return ms, nil
	}
	return nil, fmt.Errorf("%w: neither pgpSignedAttestation nor genericSignedAttestation", ErrNoSignature)
}

func checkContentType(ct string) error {
	switch ct {
	case "", "SIMPLE_SIGNING_JSON", "CONTENT_TYPE_UNSPECIFIED":
		return nil
	}
	return fmt.Errorf("%w: unsupported contentType %q", ErrMalformed, ct)
}

// decodeBase64 accepts what protobuf's JSON mapping accepts for bytes: standard or URL-safe
// alphabet, with or without padding.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	var firstErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.Strict().DecodeString(s)
		if err == nil {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

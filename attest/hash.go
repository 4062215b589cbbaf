package attest

import (
	"bytes"
	"crypto"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Hash policy. A message signature counts only when its hash is SHA-2 (SHA-224, SHA-256,
// SHA-384, SHA-512) or SHA-3 (SHA3-256, SHA3-512). go-crypto's message reader does not
// apply its own reject list to message signatures (it verifies SHA-1 ones), so the
// policy is checked here on the packets themselves: every one-pass signature and
// signature packet of the message (inside compressed data too), before anything is
// verified, and again on the signature packet that verified. SHA-1, MD5 and RIPEMD-160
// give ErrWeakHash.
//
// Self-signatures of the attestor key: a signing subkey counts only when its binding
// signature (and the back signature embedded in it) uses SHA-2 or SHA-3, because that
// binding is what makes the subkey speak for the key the operator trusts. The primary
// key's own user-id self-signatures may use SHA-1 (older GnuPG made them so): the primary
// key is trusted because the operator put it in the key file (and may pin its
// fingerprint), not because of its self-signature, which carries only metadata (user id,
// flags, expiry) made by the key owner over data of their own choosing.

// OpenPGP hash algorithm ids (RFC 9580 §9.5).
var hashNames = map[byte]string{
	1: "MD5", 2: "SHA-1", 3: "RIPEMD-160", 8: "SHA-256", 9: "SHA-384", 10: "SHA-512",
	11: "SHA-224", 12: "SHA3-256", 14: "SHA3-512",
}

func hashName(id byte) string {
	if n, ok := hashNames[id]; ok {
		return n
	}
	return fmt.Sprintf("hash algorithm %d", id)
}

func hashIDOf(h crypto.Hash) byte {
	switch h {
	case crypto.MD5:
		return 1
	case crypto.SHA1:
		return 2
	case crypto.RIPEMD160:
		return 3
	case crypto.SHA256:
		return 8
	case crypto.SHA384:
		return 9
	case crypto.SHA512:
		return 10
	case crypto.SHA224:
		return 11
	case crypto.SHA3_256:
		return 12
	case crypto.SHA3_512:
		return 14
	}
	return 0
}

func hashAllowed(id byte, what string) error {
	switch id {
	case 8, 9, 10, 11, 12, 14:
		return nil
	}
	return fmt.Errorf("%w: %s uses %s", ErrWeakHash, what, hashName(id))
}

// maxCompressionDepth bounds nested compressed packets in a message.
const maxCompressionDepth = 2

// checkMessageHashes checks the hash of every one-pass signature and signature packet of
// an OpenPGP message. Framing errors are left to the message reader, which reports them.
func checkMessageHashes(bin []byte) error {
	return walkHashes(bytes.NewReader(bin), 0)
}

func walkHashes(r io.Reader, depth int) error {
	or := packet.NewOpaqueReader(r)
	for {
		op, err := or.Next()
		if err != nil {
			return nil // io.EOF, or a framing error the message reader reports
		}
		c := op.Contents
		switch op.Tag {
		case 4: // one-pass signature: version, type, hash, ...
			if len(c) >= 3 {
				if err := hashAllowed(c[2], "one-pass signature"); err != nil {
					return err
				}
			}
		case 2: // signature: v3 has the hash at offset 16, v4 to v6 at offset 3
			switch {
			case len(c) > 16 && (c[0] == 2 || c[0] == 3):
				if err := hashAllowed(c[16], "signature"); err != nil {
					return err
				}
			case len(c) > 3 && c[0] >= 4 && c[0] <= 6:
				if err := hashAllowed(c[3], "signature"); err != nil {
					return err
				}
			}
		case 8: // compressed data
			if depth >= maxCompressionDepth {
				return fmt.Errorf("%w: compressed data nested more than %d deep", ErrBadEncoding, maxCompressionDepth)
			}
			p, err := op.Parse()
			if err != nil {
				return nil
			}
			cp, ok := p.(*packet.Compressed)
			if !ok {
				return nil
			}
			if err := walkHashes(io.LimitReader(cp.Body, 4*maxSignedContent), depth+1); err != nil {
				return err
			}
		}
	}
}

// checkBindingHashes refuses a signing subkey whose binding signature, or the back
// signature embedded in it, uses a hash other than SHA-2/SHA-3 (see the policy above).
func checkBindingHashes(k *openpgp.Key) error {
	if k.Entity == nil || k.PublicKey == k.Entity.PrimaryKey || k.SelfSignature == nil {
		return nil
	}
	if err := hashAllowed(hashIDOf(k.SelfSignature.Hash), "the signing subkey's binding signature"); err != nil {
		return err
	}
	if emb := k.SelfSignature.EmbeddedSignature; emb != nil {
		return hashAllowed(hashIDOf(emb.Hash), "the signing subkey's back signature")
	}
	return nil
}

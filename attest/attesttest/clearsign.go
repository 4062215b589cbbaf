package attesttest

import (
	"bytes"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func clearSign(buf *bytes.Buffer, e *openpgp.Entity, payload []byte, cfg *packet.Config) ([]byte, error) {
	w, err := clearsign.Encode(buf, e.PrivateKey, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(payload); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

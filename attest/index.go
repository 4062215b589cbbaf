package attest

// Index finds the occurrences of an image in a bulk listing, by normalised resource URI
// (scheme, a tag before the digest, and the case of host and hex do not matter).
type Index struct {
	by  map[string][]Occurrence
	all []Occurrence
}

// NewIndex indexes occs. Occurrences whose resource URI cannot be read are kept in
// All but found by no subject.
func NewIndex(occs []Occurrence) *Index {
	x := &Index{by: make(map[string][]Occurrence), all: occs}
	for _, o := range occs {
		if k := resourceKey(o.ResourceURI); k != "" {
			x.by[k] = append(x.by[k], o)
		}
	}
	return x
}

// For returns the occurrences about s, in listing order; nil when there are none.
func (x *Index) For(s Subject) []Occurrence {
	k := s.key()
	if k == "" {
		return nil
	}
	return x.by[k]
}

// All returns every indexed occurrence.
func (x *Index) All() []Occurrence { return x.all }

// Len is the number of indexed occurrences.
func (x *Index) Len() int { return len(x.all) }

package tls

import "strings"

// sniTable chooses a certificate for a TLS server name. It is immutable once
// built; the Manager swaps whole tables atomically on reload, so a lookup
// never sees a half-updated index.
type sniTable struct {
	exact map[string]*pair // "api.example.com" and IP addresses
	wild  map[string]*pair // "example.com" for a certificate naming "*.example.com"
	def   *pair            // for clients without SNI and unknown names
}

// newSNITable indexes pairs by their names. When two certificates name the
// same host, the earlier one in pairs wins. def must be one of pairs.
func newSNITable(pairs []*pair, def *pair) *sniTable {
	t := &sniTable{exact: make(map[string]*pair), wild: make(map[string]*pair), def: def}
	for _, p := range pairs {
		if p == nil {
			continue
		}
		for _, n := range p.names {
			if rest, ok := strings.CutPrefix(n, "*."); ok {
				if _, dup := t.wild[rest]; !dup {
					t.wild[rest] = p
				}
				continue
			}
			if _, dup := t.exact[n]; !dup {
				t.exact[n] = p
			}
		}
	}
	return t
}

// lookup returns the certificate for the server name sent by a client: an
// exact name first, then a wildcard one label deep (as RFC 6125 allows:
// "*.example.com" matches "a.example.com", not "a.b.example.com" nor
// "example.com"), then the default. It does not allocate for lowercase
// names, which is what clients send.
func (t *sniTable) lookup(serverName string) *pair {
	if serverName == "" {
		return t.def
	}
	name := normalizeName(serverName)
	if p := t.exact[name]; p != nil {
		return p
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if p := t.wild[name[i+1:]]; p != nil {
			return p
		}
	}
	return t.def
}

// has reports whether a certificate other than the default fallback serves
// name.
func (t *sniTable) has(name string) bool {
	name = normalizeName(name)
	if t.exact[name] != nil {
		return true
	}
	i := strings.IndexByte(name, '.')
	return i > 0 && t.wild[name[i+1:]] != nil
}

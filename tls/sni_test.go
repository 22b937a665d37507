package tls

import "testing"

func TestSNITableChoosesExactThenWildcardThenDefault(t *testing.T) {
	def := &pair{names: []string{"default.test"}}
	api := &pair{names: []string{"api.example.com"}}
	wild := &pair{names: []string{"*.example.com"}}
	shadow := &pair{names: []string{"api.example.com", "*.example.com"}} // later: loses both names
	tab := newSNITable([]*pair{def, api, wild, shadow}, def)
	tests := []struct {
		sni  string
		want *pair
	}{
		{"", def},
		{"default.test", def},
		{"api.example.com", api},
		{"API.Example.com.", api},
		{"www.example.com", wild},
		{"a.b.example.com", def}, // a wildcard covers one label only
		{"example.com", def},     // nor the bare domain
		{"unknown.test", def},
		{"com", def},
	}
	for _, tc := range tests {
		if got := tab.lookup(tc.sni); got != tc.want {
			t.Errorf("lookup(%q) = %v, want %v", tc.sni, got.names, tc.want.names)
		}
	}
	if !tab.has("www.example.com") || tab.has("unknown.test") {
		t.Errorf("has: www.example.com=%v unknown.test=%v, want true false", tab.has("www.example.com"), tab.has("unknown.test"))
	}
}

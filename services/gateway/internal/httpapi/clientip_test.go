package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIPBelievesForwardedForOnlyFromTrustedProxies(t *testing.T) {
	proxies := TrustedProxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	cases := []struct {
		name      string
		proxies   TrustedProxies
		remote    string
		forwarded []string
		want      string
	}{
		{"no proxies configured", nil, "10.1.1.1:443", []string{"198.51.100.9"}, "10.1.1.1"},
		{"direct client lies", proxies, "203.0.113.5:443", []string{"198.51.100.9"}, "203.0.113.5"},
		{"through one proxy", proxies, "10.1.1.1:443", []string{"198.51.100.9"}, "198.51.100.9"},
		{"client-written hops are ignored", proxies, "10.1.1.1:443", []string{"1.2.3.4, 198.51.100.9"}, "198.51.100.9"},
		{"through two proxies", proxies, "10.1.1.1:443", []string{"198.51.100.9, 10.2.2.2"}, "198.51.100.9"},
		{"several headers", proxies, "10.1.1.1:443", []string{"1.2.3.4", "198.51.100.9"}, "198.51.100.9"},
		{"garbled hop", proxies, "10.1.1.1:443", []string{"198.51.100.9, not-an-ip"}, "10.1.1.1"},
		{"proxy without header", proxies, "10.1.1.1:443", nil, "10.1.1.1"},
		{"IPv6 proxy", proxies, "[fd00::1]:443", []string{"2001:db8::7"}, "2001:db8::7"},
		{"IPv4-mapped peer", proxies, "[::ffff:10.1.1.1]:443", []string{"198.51.100.9"}, "198.51.100.9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.forwarded {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tc.proxies.ClientIP(r); got.String() != tc.want {
				t.Errorf("ClientIP = %s, want %s", got, tc.want)
			}
		})
	}
}

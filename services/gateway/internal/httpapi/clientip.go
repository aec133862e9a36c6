package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// TrustedProxies are the networks of load balancers in front of the gateway. Only a
// connection from one of them may tell us, in X-Forwarded-For, who the client is;
// from anyone else that header is a claim the client makes about itself, and rate
// limits keyed on it would be trivially dodged.
type TrustedProxies []netip.Prefix

// ClientIP is the address of the client that sent r: the connection's peer, or, when
// the peer is a trusted proxy, the nearest X-Forwarded-For hop that is not one. Hops
// are read right to left because each proxy appends the address it saw; entries left
// of the first untrusted hop were written by the client and prove nothing.
func (t TrustedProxies) ClientIP(r *http.Request) netip.Addr {
	peer := remoteIP(r)
	if !t.trusts(peer) {
		return peer
	}
	hops := forwardedHops(r.Header.Values("X-Forwarded-For"))
	client := peer
	for _, hop := range slices.Backward(hops) {
		addr, err := netip.ParseAddr(hop)
		if err != nil {
			break // a garbled hop: trust nothing further left
		}
		client = addr.Unmap()
		if !t.trusts(client) {
			break
		}
	}
	return client
}

func (t TrustedProxies) trusts(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	for _, p := range t {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// forwardedHops flattens X-Forwarded-For headers, in order, into single hops.
func forwardedHops(values []string) []string {
	var hops []string
	for _, v := range values {
		for hop := range strings.SplitSeq(v, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				hops = append(hops, hop)
			}
		}
	}
	return hops
}

// remoteIP is the IP of the connection's peer; the zero Addr if RemoteAddr is not an
// address (only in tests that forget to set one).
func remoteIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return addr.Unmap()
}

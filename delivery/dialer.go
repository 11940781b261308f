package delivery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrPrivateAddress is returned (wrapped, so errors.Is finds it through
// net.OpError and url.Error) when a webhook would connect to an address that
// belongs to the service's own network: loopback, private, link-local and the
// like. A delivery refused this way is not retried: the address will not change.
var ErrPrivateAddress = errors.New("private address refused")

// NewDialer returns a dialer for webhook deliveries that gives up after
// timeout and, unless allowPrivate is set, refuses to connect to any address
// for which IsPrivateAddress reports true.
//
// The check runs in the dialer's Control hook, that is on the IP address the
// socket is about to connect to, after DNS resolution. A host name that
// resolves (or re-resolves, as in DNS rebinding) to a private address is
// therefore refused too, and a host with several addresses is refused only on
// the ones that are private. The check guards the address actually dialled:
// a transport that goes through a proxy dials the proxy, not the merchant, so
// the guard is meant for transports without one.
func NewDialer(allowPrivate bool, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		d.Control = refusePrivate
	}
	return d
}

// refusePrivate is a net.Dialer Control hook. address is the resolved
// "ip:port" being connected to.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Fail closed: an address we cannot read is an address we cannot vouch for.
		return fmt.Errorf("%w: cannot check %s address %q: %v", ErrPrivateAddress, network, address, err)
	}
	if IsPrivateAddress(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrPrivateAddress, ap.Addr())
	}
	return nil
}

// Non-global IPv4 ranges (IANA IPv4 Special-Purpose Address Registry).
var privateV4 = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network", includes 0.0.0.0
	netip.MustParsePrefix("10.0.0.0/8"),      // RFC 1918
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT, RFC 6598
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local, cloud metadata endpoints
	netip.MustParsePrefix("172.16.0.0/12"),   // RFC 1918
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("192.168.0.0/16"),  // RFC 1918
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking, used inside some networks
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("224.0.0.0/4"),     // multicast
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, includes 255.255.255.255 broadcast
}

// Non-global IPv6 ranges that do not carry an IPv4 address.
var privateV6 = []netip.Prefix{
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64, RFC 8215: translates into the local network
	netip.MustParsePrefix("100::/64"),       // discard-only, RFC 6666
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("3fff::/20"),      // documentation, RFC 9637
	netip.MustParsePrefix("fc00::/7"),       // unique local
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local, still routed internally by some
	netip.MustParsePrefix("ff00::/8"),       // multicast
}

// IPv6 ranges that embed an IPv4 address a packet may end up at.
var (
	v4Compatible = netip.MustParsePrefix("::/96")        // deprecated IPv4-compatible, ::a.b.c.d
	nat64        = netip.MustParsePrefix("64:ff9b::/96") // well-known NAT64 prefix, RFC 6052
	sixToFour    = netip.MustParsePrefix("2002::/16")    // 6to4: IPv4 in bits 16-47
	teredo       = netip.MustParsePrefix("2001::/32")    // Teredo: client IPv4 inverted in the last 32 bits
)

// IsPrivateAddress reports whether ip is an address a webhook must not reach
// unless the operator allows it: loopback, unspecified, private (RFC 1918,
// fc00::/7), link-local (169.254.0.0/16, fe80::/10), carrier-grade NAT
// (100.64.0.0/10), 0.0.0.0/8, multicast, broadcast and the other reserved or
// documentation ranges that are not globally routable.
//
// IPv6 forms that carry an IPv4 address are judged by that IPv4 address:
// IPv4-mapped (::ffff:10.0.0.1), IPv4-compatible (::10.0.0.1), NAT64
// (64:ff9b::10.0.0.1), 6to4 (2002:0a00:0001::) and Teredo client addresses.
// A zone (fe80::1%eth0) is ignored. The zero netip.Addr is reported private,
// so that an address that failed to parse is refused rather than allowed.
func IsPrivateAddress(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.WithZone("") // Prefix.Contains never matches a zoned address.
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	if ip.IsLoopback() || ip.IsUnspecified() || ip.IsPrivate() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast() {
		return true
	}
	if ip.Is4() {
		return containedIn(privateV4, ip)
	}
	if containedIn(privateV6, ip) {
		return true
	}
	b := ip.As16()
	switch {
	case v4Compatible.Contains(ip), nat64.Contains(ip):
		return IsPrivateAddress(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(ip):
		return IsPrivateAddress(netip.AddrFrom4([4]byte(b[2:6])))
	case teredo.Contains(ip):
		return IsPrivateAddress(netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}))
	}
	return false
}

func containedIn(prefixes []netip.Prefix, ip netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestIsPrivateAddress(t *testing.T) {
	t.Parallel()

	tests := []struct {
		addr    string
		private bool
	}{
		// Public addresses pass.
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"93.184.216.34", false},
		{"100.63.255.255", false}, // just below CGNAT
		{"100.128.0.0", false},    // just above CGNAT
		{"172.15.255.255", false}, // just below 172.16/12
		{"172.32.0.0", false},     // just above 172.16/12
		{"11.0.0.0", false},
		{"223.255.255.255", false}, // just below multicast
		{"2606:4700::1", false},
		{"2001:4860:4860::8888", false},
		{"::ffff:8.8.8.8", false},
		{"::8.8.8.8", false},                            // IPv4-compatible, public
		{"64:ff9b::808:808", false},                     // NAT64 of 8.8.8.8
		{"2002:808:808::1", false},                      // 6to4 of 8.8.8.8
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", false}, // Teredo, client 8.8.8.8

		// Loopback.
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"::1", true},
		// Unspecified and "this network".
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"::", true},
		// RFC 1918 and unique local.
		{"10.0.0.1", true},
		{"10.255.255.255", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.1.1", true},
		{"fc00::1", true},
		{"fd12:3456:789a::1", true},
		// Link-local, including the cloud metadata endpoint.
		{"169.254.169.254", true},
		{"169.254.0.1", true},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"febf:ffff::1", true},
		{"fec0::1", true}, // deprecated site-local
		// Carrier-grade NAT.
		{"100.64.0.1", true},
		{"100.127.255.255", true},
		// Multicast and broadcast.
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		{"255.255.255.255", true},
		{"240.0.0.1", true},
		{"ff02::1", true},
		{"ff0e::1", true},
		// Other non-global IPv4 ranges.
		{"192.0.0.8", true},
		{"192.0.2.1", true},
		{"198.18.0.1", true},
		{"198.19.255.255", true},
		{"198.51.100.1", true},
		{"203.0.113.1", true},
		// Other non-global IPv6 ranges.
		{"100::1", true},
		{"2001:db8::1", true},
		{"3fff::1", true},
		{"64:ff9b:1::a00:1", true}, // local-use NAT64
		// IPv4-mapped forms.
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:169.254.169.254", true},
		{"::ffff:100.64.0.1", true},
		{"::ffff:0.0.0.0", true},
		{"::ffff:7f00:1", true}, // hex spelling of ::ffff:127.0.0.1
		// IPv4-compatible forms.
		{"::127.0.0.1", true},
		{"::10.0.0.1", true},
		{"::192.168.0.1", true},
		// NAT64 embedding a private IPv4.
		{"64:ff9b::127.0.0.1", true},
		{"64:ff9b::a00:1", true},
		{"64:ff9b::169.254.169.254", true},
		// 6to4 embedding a private IPv4.
		{"2002:7f00:1::1", true},
		{"2002:a00:1::", true},
		{"2002:a9fe:a9fe::1", true},
		// Teredo whose client is a private IPv4 (stored inverted).
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", true}, // client 127.0.0.1
		{"2001:0:4136:e378:8000:63bf:f5ff:fffe", true}, // client 10.0.0.1
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			ip := netip.MustParseAddr(tt.addr)
			require.Equal(t, tt.private, IsPrivateAddress(ip))
		})
	}
}

func TestIsPrivateAddress_RefusesZeroAddr(t *testing.T) {
	t.Parallel()
	require.True(t, IsPrivateAddress(netip.Addr{}))
}

// The Control hook sees the resolved address; calling it directly checks what
// a dial would do for any address without touching the network.
func TestDialer_ControlRefusesResolvedPrivateAddress(t *testing.T) {
	t.Parallel()

	d := NewDialer(false, time.Second)
	require.NotNil(t, d.Control)
	require.Equal(t, time.Second, d.Timeout)

	for _, addr := range []string{
		"127.0.0.1:443", "10.0.0.1:80", "169.254.169.254:80", "[::1]:443",
		"[::ffff:127.0.0.1]:80", "[fe80::1%eth0]:80", "[64:ff9b::a00:1]:80", "0.0.0.0:80",
	} {
		err := d.Control("tcp", addr, nil)
		require.ErrorIs(t, err, ErrPrivateAddress, addr)
	}
	for _, addr := range []string{"8.8.8.8:443", "[2606:4700::1]:443"} {
		require.NoError(t, d.Control("tcp", addr, nil), addr)
	}

	err := d.Control("tcp", "not-an-address", nil)
	require.ErrorIs(t, err, ErrPrivateAddress, "an unreadable address fails closed")
}

func TestDialer_AllowPrivateHasNoGuard(t *testing.T) {
	t.Parallel()
	d := NewDialer(true, 2*time.Second)
	require.Nil(t, d.Control)
	require.Equal(t, 2*time.Second, d.Timeout)
}

// loopbackServer starts a test server listening on the given loopback address.
func loopbackServer(t *testing.T, addr string) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// client returns an HTTP client dialling through NewDialer. Its resolver
// refuses to query DNS servers, so that a name missing from /etc/hosts fails
// here instead of leaving the machine.
func client(allowPrivate bool) *http.Client {
	d := NewDialer(allowPrivate, 2*time.Second)
	d.Resolver = &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("test resolver: DNS queries not allowed")
		},
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{DialContext: d.DialContext}, // no proxy: dial the target itself
	}
}

func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

func TestDialer_RefusesLoopbackServer(t *testing.T) {
	t.Parallel()
	srv := loopbackServer(t, "127.0.0.1:0")

	err := get(client(false), srv.URL)
	require.ErrorIs(t, err, ErrPrivateAddress)
	require.ErrorContains(t, err, "127.0.0.1")

	require.NoError(t, get(client(true), srv.URL))
}

func TestDialer_RefusesLocalhostName(t *testing.T) {
	t.Parallel()
	srv := loopbackServer(t, "127.0.0.1:0")
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	url := "http://localhost:" + port + "/"

	err = get(client(false), url)
	require.ErrorIs(t, err, ErrPrivateAddress, "a name resolving to loopback is refused after resolution")

	require.NoError(t, get(client(true), url))
}

func TestDialer_RefusesIPv6Loopback(t *testing.T) {
	t.Parallel()
	srv := loopbackServer(t, "[::1]:0") // skips if IPv6 loopback is unavailable

	err := get(client(false), srv.URL)
	require.ErrorIs(t, err, ErrPrivateAddress)
	require.ErrorContains(t, err, "::1")

	require.NoError(t, get(client(true), srv.URL))
}

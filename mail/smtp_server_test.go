package mail_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

// smtpOptions shape an in-process SMTP server.
type smtpOptions struct {
	// Username and Password, when set, are required (AUTH PLAIN) before MAIL FROM.
	Username, Password string
	// STARTTLS advertises STARTTLS with a certificate of its own; ImplicitTLS speaks TLS
	// from the first byte (smtps).
	STARTTLS, ImplicitTLS bool
	// AllowInsecureAuth offers AUTH on a connection without TLS (to loopback).
	AllowInsecureAuth bool
}

// received is one message an SMTP server accepted.
type received struct {
	From string
	To   []string
	Data []byte
	TLS  bool   // the message came over TLS (STARTTLS or implicit)
	User string // who authenticated, "" without AUTH
}

// smtpServer is a go-smtp server on loopback that keeps what it receives.
type smtpServer struct {
	Addr string
	Host string
	Port int
	// Roots trusts the server's certificate (nil without TLS).
	Roots *x509.CertPool
	srv   *smtp.Server
	opts  smtpOptions
	mu    sync.Mutex
	msgs  []received
	got   chan struct{}
}

// startSMTP starts an SMTP server on 127.0.0.1 at a free port.
func startSMTP(t *testing.T, o smtpOptions) *smtpServer {
	t.Helper()
	return startSMTPAt(t, "127.0.0.1:0", o)
}

// startSMTPAt starts an SMTP server listening on addr, closed when the test ends.
func startSMTPAt(t *testing.T, addr string, o smtpOptions) *smtpServer {
	t.Helper()
	s := &smtpServer{opts: o, got: make(chan struct{}, 1024)}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.srv.AllowInsecureAuth = o.AllowInsecureAuth
	s.srv.ErrorLog = smtpLog{t}
	var ln net.Listener
	var err error
	if o.STARTTLS || o.ImplicitTLS {
		cert, roots := selfSignedCert(t)
		s.Roots = roots
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if o.ImplicitTLS {
		ln, err = tls.Listen("tcp", addr, s.srv.TLSConfig)
	} else {
		ln, err = net.Listen("tcp", addr)
	}
	require.NoError(t, err)
	s.Addr = ln.Addr().String()
	tcp := ln.Addr().(*net.TCPAddr)
	s.Host, s.Port = tcp.IP.String(), tcp.Port
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// Messages returns what the server accepted so far.
func (s *smtpServer) Messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

// Wait waits until the server accepted n messages in all, or fails after timeout.
func (s *smtpServer) Wait(t *testing.T, n int, timeout time.Duration) []received {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.got:
		case <-deadline:
			t.Fatalf("SMTP server got %d messages, want %d within %v", len(s.Messages()), n, timeout)
		}
	}
}

// NewSession starts an SMTP session (go-smtp's Backend).
func (s *smtpServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	sess := &session{srv: s, conn: c}
	if s.opts.Username != "" {
		return &authSession{session: sess}, nil
	}
	return sess, nil
}

type session struct {
	srv  *smtpServer
	conn *smtp.Conn
	user string
	msg  received
}

func (s *session) Reset()        { s.msg = received{} }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.opts.Username != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.msg = received{From: from, TLS: isTLS, User: s.user}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = b
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.msg)
	s.srv.mu.Unlock()
	s.srv.got <- struct{}{}
	return nil
}

// authSession offers AUTH PLAIN.
type authSession struct{ *session }

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.srv.opts.Username || pass != s.srv.opts.Password {
			return errors.New("invalid user name or password")
		}
		s.user = user
		return nil
	}), nil
}

// selfSignedCert makes a certificate for 127.0.0.1 and localhost, and a pool trusting it.
func selfSignedCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "payhook test SMTP"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, roots
}

// smtpLog sends go-smtp's log to the test's.
type smtpLog struct{ t *testing.T }

func (l smtpLog) Printf(format string, v ...any) { l.t.Logf("smtp server: "+format, v...) }
func (l smtpLog) Println(v ...any)               { l.t.Log(append([]any{"smtp server:"}, v...)...) }

// email is a received message taken apart.
type email struct {
	Header              netmail.Header
	Subject, Text, HTML string
}

// parseEmail decodes a message: its subject and its text and HTML parts.
func parseEmail(t *testing.T, raw []byte) email {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	e := email{Header: msg.Header}
	e.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	if !strings.HasPrefix(mediaType, "multipart/") {
		e.Text = decodePart(t, msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		return e
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		body := decodePart(t, p.Header.Get("Content-Transfer-Encoding"), p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			e.Text = body
		case "text/html":
			e.HTML = body
		}
	}
	return e
}

func decodePart(t *testing.T, cte string, r io.Reader) string {
	t.Helper()
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

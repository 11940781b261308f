package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// smtpSender sends messages through one SMTP server with go-mail, one connection per
// batch.
type smtpSender struct {
	cfg     SMTPConfig
	timeout time.Duration
}

// send delivers msgs over one connection. It returns nil when every message was
// accepted; otherwise the messages not accepted can be told by IsDelivered.
func (s *smtpSender) send(ctx context.Context, msgs []*gomail.Msg) error {
	// go-mail leaves the connection open when the greeting, STARTTLS or AUTH fails;
	// the dialer keeps what it opened so that nothing leaks.
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	tlsConfig := s.tlsConfig()
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var c net.Conn
		var err error
		d := &net.Dialer{}
		if s.cfg.ImplicitTLS {
			c, err = (&tls.Dialer{NetDialer: d, Config: tlsConfig}).DialContext(ctx, network, addr)
		} else {
			c, err = d.DialContext(ctx, network, addr)
		}
		if err == nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return c, err
	}
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSConfig(tlsConfig),
		gomail.WithDialContextFunc(dial),
	}
	if s.cfg.ImplicitTLS {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.cfg.Username != "" {
		// The strongest mechanism the server offers. PLAIN and LOGIN are refused on a
		// connection without TLS (but to localhost): a password never goes in the clear.
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1,
				gomail.SMTPAuthCramMD5, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return err
	}
	return c.DialAndSendWithContext(ctx, msgs...)
}

func (s *smtpSender) tlsConfig() *tls.Config {
	if s.cfg.TLSConfig != nil {
		c := s.cfg.TLSConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = s.cfg.Host
		}
		return c
	}
	return &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
}

// permanent reports whether the server refused a message for good (a 5xx reply), so that
// sending it again would not help.
func permanent(m *gomail.Msg) bool {
	var se *gomail.SendError
	if err := m.SendError(); err != nil && errors.As(err, &se) {
		return !se.IsTemp() && se.ErrorCode() >= 500
	}
	return false
}

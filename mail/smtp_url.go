package mail

import (
	"crypto/tls"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
)

// The default ports: submission with STARTTLS for smtp://, implicit TLS for smtps://.
const (
	DefaultSMTPPort  = 587
	DefaultSMTPSPort = 465
)

// SMTPConfig is the SMTP server error emails go through, as ParseSMTPURL reads it from
// --smtp-url.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string // "" sends without SMTP AUTH
	Password string
	// ImplicitTLS is set by smtps://: TLS from the first byte. Otherwise (smtp://) the
	// connection is upgraded with STARTTLS whenever the server offers it; a server that
	// offers it must then present a valid certificate.
	ImplicitTLS bool
	// From is the sender, e.g. "payhook@shop.example" or "Payhook <payhook@shop.example>";
	// "" lets the ErrorMailer derive one from the base URL.
	From string
	// TLSConfig, when set, is used for the TLS handshake (tests trust their own
	// certificate with it); by default the system roots verify the server's name.
	TLSConfig *tls.Config
}

// ParseSMTPURL reads an SMTP URL: smtp://user:pass@host:port (STARTTLS when the server
// offers it, port 587 by default) or smtps://user:pass@host:port (implicit TLS, port 465
// by default). The user name and password are optional and must be percent-encoded
// ("p%40ss" for "p@ss"). The only query parameter is from, the sender's address
// (?from=payhook@shop.example). The errors never repeat the password.
func ParseSMTPURL(s string) (SMTPConfig, error) {
	if strings.TrimSpace(s) == "" {
		return SMTPConfig{}, errors.New("SMTP URL is empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error repeats the whole URL, password included: keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return SMTPConfig{}, fmt.Errorf("SMTP URL: %v", err)
	}
	var c SMTPConfig
	switch u.Scheme {
	case "smtp":
		c.Port = DefaultSMTPPort
	case "smtps":
		c.Port, c.ImplicitTLS = DefaultSMTPSPort, true
	case "":
		return SMTPConfig{}, errors.New("SMTP URL: missing scheme: want smtp://user:pass@host:port or smtps://…")
	default:
		return SMTPConfig{}, fmt.Errorf("SMTP URL: scheme %q: want smtp or smtps", u.Scheme)
	}
	if u.Opaque != "" {
		return SMTPConfig{}, errors.New("SMTP URL: want smtp://host, with two slashes")
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return SMTPConfig{}, errors.New("SMTP URL: missing host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTPConfig{}, fmt.Errorf("SMTP URL: port %q: want 1 to 65535", p)
		}
		c.Port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return SMTPConfig{}, errors.New("SMTP URL: empty port")
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
		if c.Username == "" {
			return SMTPConfig{}, errors.New("SMTP URL: a password without a user name")
		}
	}
	if u.Path != "" && u.Path != "/" {
		return SMTPConfig{}, fmt.Errorf("SMTP URL: unexpected path %q", u.Path)
	}
	if u.Fragment != "" {
		return SMTPConfig{}, errors.New("SMTP URL: unexpected fragment")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return SMTPConfig{}, fmt.Errorf("SMTP URL: query: %v", err)
	}
	for k, v := range q {
		if k != "from" {
			return SMTPConfig{}, fmt.Errorf("SMTP URL: unknown parameter %q (the only one is from)", k)
		}
		if len(v) != 1 {
			return SMTPConfig{}, errors.New("SMTP URL: from given more than once")
		}
		a, err := netmail.ParseAddress(v[0])
		if err != nil {
			return SMTPConfig{}, fmt.Errorf("SMTP URL: from %q is not an email address", v[0])
		}
		c.From = a.Address
		if a.Name != "" {
			c.From = a.String()
		}
	}
	return c, nil
}

// String returns the configuration as a URL with the password hidden, fit for logs.
func (c SMTPConfig) String() string {
	u := url.URL{Scheme: "smtp", Host: c.Host + ":" + strconv.Itoa(c.Port)}
	if c.ImplicitTLS {
		u.Scheme = "smtps"
	}
	if c.Username != "" {
		u.User = url.UserPassword(c.Username, "xxxxx")
	}
	return u.String()
}

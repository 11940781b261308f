package mail_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/mail"
)

func TestParseSMTPURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    mail.SMTPConfig
		wantErr string
	}{
		{in: "smtp://user:pass@smtp.example:2525",
			want: mail.SMTPConfig{Host: "smtp.example", Port: 2525, Username: "user", Password: "pass"}},
		{in: "smtp://smtp.example", want: mail.SMTPConfig{Host: "smtp.example", Port: 587}},
		{in: "smtp://smtp.example/", want: mail.SMTPConfig{Host: "smtp.example", Port: 587}},
		{in: "smtps://u:p@smtp.example",
			want: mail.SMTPConfig{Host: "smtp.example", Port: 465, Username: "u", Password: "p", ImplicitTLS: true}},
		{in: "smtp://apikey:p%40ss%2Fw0rd@smtp.example:587",
			want: mail.SMTPConfig{Host: "smtp.example", Port: 587, Username: "apikey", Password: "p@ss/w0rd"}},
		{in: "smtp://user@smtp.example", want: mail.SMTPConfig{Host: "smtp.example", Port: 587, Username: "user"}},
		{in: "smtp://[::1]:25", want: mail.SMTPConfig{Host: "::1", Port: 25}},
		{in: "smtp://smtp.example?from=payhook@shop.example",
			want: mail.SMTPConfig{Host: "smtp.example", Port: 587, From: "payhook@shop.example"}},
		{in: "smtp://smtp.example?from=Payhook+%3Cpayhook@shop.example%3E",
			want: mail.SMTPConfig{Host: "smtp.example", Port: 587, From: `"Payhook" <payhook@shop.example>`}},

		{in: "", wantErr: "empty"},
		{in: "smtp.example:587", wantErr: "scheme"},
		{in: "http://smtp.example", wantErr: `scheme "http": want smtp or smtps`},
		{in: "//smtp.example", wantErr: "missing scheme"},
		{in: "smtp:smtp.example", wantErr: "two slashes"},
		{in: "smtp://", wantErr: "missing host"},
		{in: "smtp://user:pass@", wantErr: "missing host"},
		{in: "smtp://smtp.example:0", wantErr: `port "0"`},
		{in: "smtp://smtp.example:70000", wantErr: `port "70000"`},
		{in: "smtp://smtp.example:", wantErr: "empty port"},
		{in: "smtp://:pass@smtp.example", wantErr: "password without a user name"},
		{in: "smtp://smtp.example/mail", wantErr: `unexpected path "/mail"`},
		{in: "smtp://smtp.example?tls=off", wantErr: `unknown parameter "tls"`},
		{in: "smtp://smtp.example?from=nobody", wantErr: `from "nobody" is not an email address`},
		{in: "smtp://smtp.example?from=a@b.example&from=c@d.example", wantErr: "more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := mail.ParseSMTPURL(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseSMTPURL_ErrorsNeverShowThePassword(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"smtp://user:hunter2@smtp.example:port",
		"smtp://user:hunter2@smtp.example:0",
		"smtp://user:hunter2@smtp.example/x",
		"ftp://user:hunter2@smtp.example",
		"smtp://user:hunter2@smtp.example?x=1",
		"smtp://user:hunter2@smtp.example:25%zz",
	} {
		_, err := mail.ParseSMTPURL(in)
		require.Error(t, err, in)
		require.NotContains(t, err.Error(), "hunter2", in)
	}
}

func TestSMTPConfig_StringHidesThePassword(t *testing.T) {
	t.Parallel()
	c, err := mail.ParseSMTPURL("smtps://user:hunter2@smtp.example")
	require.NoError(t, err)
	require.Equal(t, "smtps://user:xxxxx@smtp.example:465", c.String())
	c, err = mail.ParseSMTPURL("smtp://smtp.example")
	require.NoError(t, err)
	require.Equal(t, "smtp://smtp.example:587", c.String())
}

package smtp

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	gmsmtp "github.com/wneessen/go-mail/smtp"
)

func TestPlainOrLoginPicksWhatTheServerOffers(t *testing.T) {
	for offered, want := range map[string]string{"PLAIN LOGIN": "PLAIN", "LOGIN PLAIN": "PLAIN", "LOGIN XOAUTH2": "LOGIN"} {
		a := &plainOrLogin{user: "u", pass: "p", host: "127.0.0.1"}
		mech, _, err := a.Start(&gmsmtp.ServerInfo{Name: "127.0.0.1", Auth: strings.Fields(offered)})
		require.NoError(t, err, offered)
		require.Equal(t, want, mech, offered)
	}
	a := &plainOrLogin{user: "u", pass: "p", host: "smtp.example.com"}
	_, _, err := a.Start(&gmsmtp.ServerInfo{Name: "smtp.example.com", Auth: []string{"PLAIN"}})
	require.ErrorIs(t, err, gmsmtp.ErrUnencrypted, "no password in clear to a remote host")
	_, _, err = a.Start(&gmsmtp.ServerInfo{Name: "smtp.example.com", TLS: true, Auth: []string{"CRAM-MD5"}})
	require.ErrorContains(t, err, "neither AUTH PLAIN nor AUTH LOGIN")
}

func TestScrub(t *testing.T) {
	p, err := New("smtp.example.com", 587, WithFrom("a@example.com", ""), WithAuth("user", "hunter2-long"))
	require.NoError(t, err)
	got := p.scrub("535 no: hunter2-long; 550 <Zoe@Example.com> unknown, affected recipient(s): zoe@example.com", "zoe@example.com")
	require.Equal(t, "535 no: [redacted]; 550 <recipient> unknown, affected recipient(s): <recipient>", got)
}

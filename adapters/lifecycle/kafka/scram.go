package kafka

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// A SCRAM client (RFC 5802, RFC 7677) for sarama's SCRAM-SHA-256 and -512, on the
// standard library: sarama brings none, and xdg-go/scram would add it and
// golang.org/x/text for the one step (SASLprep) that matters only for passwords
// outside ASCII. Passwords are used as their UTF-8 bytes.

func sha256Hash() hash.Hash { return sha256.New() }
func sha512Hash() hash.Hash { return sha512.New() }

// scramMaxIterations bounds the iteration count a server may ask for, so that a
// hostile server cannot make the login spin.
const scramMaxIterations = 1 << 20

// scram is one SCRAM conversation: Begin, then Step until Done.
type scram struct {
	h          func() hash.Hash
	user, pass string
	nonce      string
	firstBare  string // client-first-message-bare
	serverSig  []byte
	step       int
	done       bool
}

func newSCRAM(h func() hash.Hash) *scram { return &scram{h: h} }

// Begin starts a conversation (sarama.SCRAMClient).
func (s *scram) Begin(user, pass, authzID string) error {
	if authzID != "" {
		return errors.New("scram: an authorization id is not supported")
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	*s = scram{h: s.h, user: user, pass: pass, nonce: base64.RawStdEncoding.EncodeToString(b)}
	return nil
}

// Step answers the server's last message (sarama.SCRAMClient).
func (s *scram) Step(challenge string) (string, error) {
	s.step++
	switch s.step {
	case 1:
		s.firstBare = "n=" + saslName(s.user) + ",r=" + s.nonce
		return "n,," + s.firstBare, nil
	case 2:
		return s.final(challenge)
	case 3:
		attrs := scramAttrs(challenge)
		if e, ok := attrs["e"]; ok {
			return "", fmt.Errorf("scram: the server refused the login: %s", e)
		}
		v, err := base64.StdEncoding.DecodeString(attrs["v"])
		if err != nil || !hmac.Equal(v, s.serverSig) {
			return "", errors.New("scram: the server's signature does not match (not the server the password belongs to)")
		}
		s.done = true
		return "", nil
	}
	return "", errors.New("scram: the conversation is over")
}

// Done reports whether the server has been verified (sarama.SCRAMClient).
func (s *scram) Done() bool { return s.done }

// final answers the server-first message with the client proof.
func (s *scram) final(serverFirst string) (string, error) {
	attrs := scramAttrs(serverFirst)
	if e, ok := attrs["e"]; ok {
		return "", fmt.Errorf("scram: the server refused the login: %s", e)
	}
	if _, ok := attrs["m"]; ok {
		return "", errors.New("scram: the server asks for an extension this client does not know")
	}
	nonce := attrs["r"]
	if !strings.HasPrefix(nonce, s.nonce) || len(nonce) == len(s.nonce) {
		return "", errors.New("scram: the server's nonce does not extend the client's")
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	if err != nil || len(salt) == 0 {
		return "", errors.New("scram: the server sent no usable salt")
	}
	iter, err := strconv.Atoi(attrs["i"])
	if err != nil || iter < 1 || iter > scramMaxIterations {
		return "", fmt.Errorf("scram: the server's iteration count %q is not 1..%d", attrs["i"], scramMaxIterations)
	}
	salted, err := pbkdf2.Key(s.h, s.pass, salt, iter, s.h().Size())
	if err != nil {
		return "", fmt.Errorf("scram: %w", err)
	}
	clientKey := s.mac(salted, "Client Key")
	hs := s.h()
	hs.Write(clientKey)
	storedKey := hs.Sum(nil)
	withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte("n,,")) + ",r=" + nonce
	authMessage := s.firstBare + "," + serverFirst + "," + withoutProof
	proof := s.mac(storedKey, authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	s.serverSig = s.mac(s.mac(salted, "Server Key"), authMessage)
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

func (s *scram) mac(key []byte, msg string) []byte {
	m := hmac.New(s.h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// saslName escapes a user name for SCRAM: '=' as =3D and ',' as =2C.
func saslName(u string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(u)
}

// scramAttrs splits a SCRAM message into its attributes (a=value,...).
func scramAttrs(msg string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Split(msg, ",") {
		if len(f) >= 2 && f[1] == '=' {
			out[f[:1]] = f[2:]
		}
	}
	return out
}

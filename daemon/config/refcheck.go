package config

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"github.com/edgerelay/edgerelay/adapters/secret"
)

// refCheck reports why value, the string at the dotted key path, refers to nothing
// usable now, or nil. checkValues calls it for every string of every adapter's
// section, so that `config check`, `run` and `daemon` find a broken reference at
// load, each with its line and key, instead of the adapter when it connects:
//   - a *_file key: the file must be readable (fileCheck) and, for a TLS file
//     (ca_file, client_ca_file, cert_file, key_file), hold a PEM certificate or
//     private key (pemCheck);
//   - a *_env key: the environment variable it names must be set and not blank
//     (envCheck).
//
// (A field tagged check:"executable" is checked by checkValues itself.) The errors
// name the file or variable, never a secret's content.
func refCheck(path, value string) error {
	switch {
	case strings.HasSuffix(path, "_file"):
		if err := fileCheck(value); err != nil {
			return err
		}
		return pemCheck(path, value)
	case strings.HasSuffix(path, "_env"):
		return envCheck(value)
	}
	return nil
}

// pemCheck is pemFile and envCheck is envSet; variables for tests (the adapters'
// documented samples name files and variables a test machine does not have).
var (
	pemCheck = pemFile
	envCheck = envSet
)

// envSet reports an environment variable that is unset or blank.
func envSet(name string) error {
	v, ok := os.LookupEnv(name)
	if !ok {
		return fmt.Errorf("environment variable %s is not set", name)
	}
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("environment variable %s is empty", name)
	}
	return nil
}

// pemFile reports a TLS file that holds no PEM block of its kind: certificates for
// ca_file, client_ca_file and cert_file, a private key for key_file (the last part
// of key). Other keys pass.
func pemFile(key, path string) error {
	what := "certificate"
	switch key[strings.LastIndex(key, ".")+1:] {
	case "ca_file", "client_ca_file", "cert_file":
	case "key_file":
		what = "private key"
	default:
		return nil
	}
	b, err := secret.ReadBounded(path, secret.MaxPEMFile)
	if err != nil {
		return err
	}
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		switch {
		case what == "private key" && strings.HasSuffix(blk.Type, "PRIVATE KEY"):
			return nil
		case what == "certificate" && blk.Type == "CERTIFICATE":
			if _, err := x509.ParseCertificate(blk.Bytes); err == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("%s holds no PEM %s", path, what)
}

package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"github.com/edgerelay/edgerelay/adapters/secret"
	"go.yaml.in/yaml/v3"
)

// refCheck reports why value, the string at the dotted key path, refers to nothing
// usable now, or nil. checkValues calls it for every string of every adapter's
// section, so that `config check`, `run` and `daemon` find a broken reference at
// load, each with its line and key, instead of the adapter when it connects:
//   - a *_file key: the file must be readable (fileCheck) and, for a TLS file
//     (ca_file, client_ca_file, cert_file, key_file), hold a PEM certificate or
//     private key (pemCheck);
//   - a *_env key: the environment variable it names must be set and not blank
//     (envCheck); its value is registered as a secret at once.
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
		if err := envCheck(value); err != nil {
			return err
		}
		// Every *_env key names a secret (a key, password or token). It is registered
		// now, at load, not when its adapter connects: a sink built earlier (the script
		// sink builds its children's environment from the daemon's, leaving out the
		// registered secrets) and every log line before that connect must already
		// know it.
		secret.Register(os.Getenv(value))
	}
	return nil
}

// keyPairCheck reports, for a tls section n at path that names both a cert_file and
// a key_file that can be read, a key that does not belong to the certificate (or a
// key or chain that does not parse): a TLS client would otherwise pass config check
// and fail every connect. Files that cannot be read are refCheck's to report.
func keyPairCheck(n *yaml.Node, path string) string {
	var cert, key *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "cert_file":
			cert = n.Content[i+1]
		case "key_file":
			key = n.Content[i+1]
		}
	}
	if cert == nil || key == nil || cert.Value == "" || key.Value == "" ||
		pemCheck(path+".cert_file", cert.Value) != nil || pemCheck(path+".key_file", key.Value) != nil {
		return "" // refCheck reports these
	}
	certPEM, err1 := secret.ReadBounded(cert.Value, secret.MaxPEMFile)
	keyPEM, err2 := secret.ReadBounded(key.Value, secret.MaxPEMFile)
	if err1 != nil || err2 != nil {
		return ""
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return fmt.Sprintf("line %d: %s: %s and %s do not make a key pair: %v", key.Line, path+".key_file", key.Value, cert.Value, err)
	}
	return ""
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
// of key), in a tls section (tls.key_file, not the ilert_edge source's key_file,
// which holds its connector key). Other keys pass.
func pemFile(key, path string) error {
	dot := strings.LastIndex(key, ".")
	if dot < 0 || !strings.HasSuffix(key[:dot], "tls") {
		return nil
	}
	what := "certificate"
	switch key[dot+1:] {
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

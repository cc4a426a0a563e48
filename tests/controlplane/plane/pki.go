package plane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File stems in the control plane's directory.
const (
	CA                    = "ca"
	APIServerCert         = "apiserver"
	ServiceAccountKey     = "service-account"
	AdminUser             = "admin"
	SchedulerUser         = "kube-scheduler"
	ControllerManagerUser = "kube-controller-manager"
)

// clients: the identity each kubeconfig carries, as kubeadm names them.
var clients = map[string]pkix.Name{
	AdminUser:             {CommonName: "kubernetes-admin", Organization: []string{"system:masters"}},
	SchedulerUser:         {CommonName: "system:kube-scheduler"},
	ControllerManagerUser: {CommonName: "system:kube-controller-manager"},
}

type keyPair struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

// WritePKI makes a fresh CA, the API server's serving certificate, a client
// certificate and kubeconfig for each component and the admin, and the
// service-account signing key, all under dir.
func WritePKI(dir string, apiURL string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ca, err := issue(nil, x509.Certificate{
		Subject:               pkix.Name{CommonName: "workspaces-test-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	if err != nil {
		return err
	}
	if err := writePair(dir, CA, ca); err != nil {
		return err
	}
	serving, err := issue(ca, x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return err
	}
	if err := writePair(dir, APIServerCert, serving); err != nil {
		return err
	}
	for name, subject := range clients {
		client, err := issue(ca, x509.Certificate{
			Subject:     subject,
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			return err
		}
		if err := writePair(dir, name, client); err != nil {
			return err
		}
		if err := writeKubeconfig(filepath.Join(dir, name+".kubeconfig"), apiURL, ca, client); err != nil {
			return err
		}
	}
	return writeServiceAccountKey(dir)
}

func issue(parent *keyPair, template x509.Certificate) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	template.SerialNumber = serial
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	issuer, signer := &template, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, &template, issuer, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, der: der, key: key}, nil
}

func certPEM(p *keyPair) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.der})
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func writePair(dir, stem string, p *keyPair) error {
	key, err := keyPEM(p.key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, stem+".crt"), certPEM(p), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, stem+".key"), key, 0o600)
}

func writeServiceAccountKey(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	private, err := keyPEM(key)
	if err != nil {
		return err
	}
	public, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ServiceAccountKey+".key"), private, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ServiceAccountKey+".pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: public}), 0o644)
}

// writeKubeconfig writes a kubeconfig with everything embedded, so that it
// can be copied anywhere. JSON is YAML, and needs no library.
func writeKubeconfig(path, apiURL string, ca, client *keyPair) error {
	key, err := keyPEM(client.key)
	if err != nil {
		return err
	}
	b64 := base64.StdEncoding.EncodeToString
	config := fmt.Sprintf(`{
  "apiVersion": "v1",
  "kind": "Config",
  "clusters": [{"name": "workspaces-test", "cluster": {"server": %q, "certificate-authority-data": %q}}],
  "users": [{"name": %q, "user": {"client-certificate-data": %q, "client-key-data": %q}}],
  "contexts": [{"name": "workspaces-test", "context": {"cluster": "workspaces-test", "user": %q}}],
  "current-context": "workspaces-test"
}
`, apiURL, b64(certPEM(ca)), client.cert.Subject.CommonName, b64(certPEM(client)), b64(key), client.cert.Subject.CommonName)
	return os.WriteFile(path, []byte(config), 0o600)
}

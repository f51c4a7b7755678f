package main_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSignedCert writes a certificate for 127.0.0.1 and its key as PEM
// files, and returns their paths and a pool trusting the certificate.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "quire test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLS serves HTTPS with --tls-cert/--tls-key and talks to it with a
// real TLS client that trusts only the test certificate.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSignedCert(t)
	bin := buildQuire(t)
	p := startQuire(t, bin, t.TempDir(), "--tls-cert", certFile, "--tls-key", keyFile)
	defer p.stop()
	if !strings.HasPrefix(p.url, "https://") {
		t.Fatalf("server announced %s, want an https URL", p.url)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
	}}
	t.Run("OK", func(t *testing.T) {
		mustDo(t, c, "POST", p.url+"/v1/tenants", `{"id":"acme"}`, 201)
		mustDo(t, c, "PUT", p.url+"/v1/tenants/acme/collections/notes", `{}`, 201)
		mustDo(t, c, "PUT", p.url+"/v1/tenants/acme/collections/notes/docs/a", `{"x":1}`, 201)
		r := mustDo(t, c, "GET", p.url+"/v1/tenants/acme/collections/notes/docs/a", "", 200)
		if !strings.Contains(string(r.body), `"x":1`) {
			t.Errorf("document over TLS: %s", r.body)
		}
		res, err := c.Get(p.url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.TLS == nil || res.TLS.Version < tls.VersionTLS12 {
			t.Errorf("response not over TLS 1.2+: %+v", res.TLS)
		}
		if got, want := res.ProtoMajor, 2; got != want {
			t.Errorf("protocol HTTP/%d, want HTTP/%d", got, want)
		}
	})
	t.Run("ErrUntrustedClient", func(t *testing.T) {
		// A client without the certificate in its roots refuses the server.
		if _, err := (&http.Client{Timeout: 5 * time.Second}).Get(p.url + "/healthz"); err == nil {
			t.Error("a client not trusting the self-signed certificate connected")
		}
	})
	t.Run("ErrPlainHTTP", func(t *testing.T) {
		// Plain HTTP on the TLS port gets no API answer.
		res, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + strings.TrimPrefix(p.url, "https://") + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				t.Error("plain HTTP served on the TLS port")
			}
		}
	})
}

// TestTLSFlagsTogether checks that a certificate without its key (or the
// reverse) is refused at start.
func TestTLSFlagsTogether(t *testing.T) {
	certFile, _, _ := selfSignedCert(t)
	bin := buildQuire(t)
	out, err := runQuire(bin, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--tls-cert", certFile)
	if err == nil || !strings.Contains(out, "--tls-cert and --tls-key go together") {
		t.Errorf("serve with --tls-cert only: err %v, output %s", err, out)
	}
}

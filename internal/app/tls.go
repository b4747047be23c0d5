package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// tlsConfigs returns the TLS configuration of the UI/API listener and that
// of the ingest listeners (the same, but requiring a client certificate
// signed by opt.TLSClientCA when it is set), or nil, nil without
// opt.TLSCert. The certificate is loaded again when its files change.
func tlsConfigs(opt Options, log *slog.Logger) (ui, ingest *tls.Config, err error) {
	if opt.TLSCert == "" && opt.TLSKey == "" {
		if opt.TLSClientCA != "" {
			return nil, nil, errors.New("a TLS client CA needs a TLS certificate and key")
		}
		return nil, nil, nil
	}
	if opt.TLSCert == "" || opt.TLSKey == "" {
		return nil, nil, errors.New("TLS needs both a certificate and a key")
	}
	r, err := newCertReloader(opt.TLSCert, opt.TLSKey, log)
	if err != nil {
		return nil, nil, err
	}
	ui = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate}
	ingest = ui.Clone()
	if opt.TLSClientCA != "" {
		pem, err := os.ReadFile(opt.TLSClientCA)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot read TLS client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("no PEM certificate in TLS client CA %s", opt.TLSClientCA)
		}
		ingest.ClientCAs = pool
		ingest.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return ui, ingest, nil
}

// certReloader serves a key pair, loaded again when a file's modification
// time changes (checked at most every certCheckEvery), so that a renewed
// certificate is served without a restart. A pair that fails to load keeps
// the previous one in service, and is logged.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu       sync.Mutex
	cert     *tls.Certificate
	modTimes [2]time.Time
	checked  time.Time
}

const certCheckEvery = 10 * time.Second

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log.With("component", "tls")}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) modified() ([2]time.Time, error) {
	var m [2]time.Time
	for i, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return m, err
		}
		m[i] = fi.ModTime()
	}
	return m, nil
}

// load reads the pair; the caller holds r.mu or owns r.
func (r *certReloader) load() error {
	m, err := r.modified()
	if err != nil {
		return fmt.Errorf("cannot read TLS certificate: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("cannot load TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.modTimes, r.checked = &cert, m, time.Now()
	return nil
}

func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < certCheckEvery {
		return r.cert, nil
	}
	r.checked = time.Now()
	if m, err := r.modified(); err == nil && m != r.modTimes {
		if err := r.load(); err != nil {
			r.log.Error("cannot load the renewed TLS certificate; serving the previous one", "err", err)
			r.modTimes = m // logged once per change
		} else {
			r.log.Info("loaded the renewed TLS certificate", "cert", r.certFile)
		}
	}
	return r.cert, nil
}

package config

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// Where the configuration in effect came from.
const (
	SourceFile = "file" // the --config file, the source of truth
	SourceAPI  = "api"  // a document set with PUT /api/v1/config, kept in the state store
	SourceNone = "none" // nothing configured
)

// ErrFileSource is returned by Manager.Set when the server runs from a
// configuration file: the file is the source of truth.
var ErrFileSource = errors.New("the configuration comes from a file")

// ManagerOptions configure a Manager. The zero value works: no file, no
// store, nothing applied.
type ManagerOptions struct {
	// Path is the --config file; empty when the configuration is set
	// through the API.
	Path string
	// Store keeps the document set through the API; nil keeps it in
	// memory only.
	Store state.ConfigStore
	// Options are the validators Parse uses, the same as `telltale check
	// config` uses.
	Options Options
	// Apply puts a valid configuration into effect (checks, rules,
	// notifications). Nil applies nothing.
	Apply func(ctx context.Context, f *File) error
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Manager holds the configuration in effect: it loads it from the file or
// the state store, reloads the file, and takes new documents from the API.
// Safe for concurrent use; loads and sets are serialised, so that Apply
// sees one configuration at a time.
type Manager struct {
	opt ManagerOptions

	mu     sync.Mutex // serialises Load and Set
	cur    sync.Mutex // guards the fields below
	file   *File
	source string
	loaded time.Time
}

// NewManager returns a Manager with nothing loaded yet: Current says
// SourceNone until Load.
func NewManager(opt ManagerOptions) *Manager {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Manager{opt: opt, file: &File{}, source: SourceNone}
}

// Load reads the configuration, from the file if the Manager has one, else
// from the store, and applies it: at start, and on SIGHUP or POST
// /-/reload. On an error the configuration in effect stays as it was. With
// no file and nothing stored it applies nothing and returns nil.
func (m *Manager) Load(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var (
		f      *File
		err    error
		source = SourceFile
		at     = m.opt.Now()
	)
	switch {
	case m.opt.Path != "":
		f, err = Load(m.opt.Path, m.opt.Options)
	case m.opt.Store != nil:
		var doc string
		doc, at, err = m.opt.Store.ConfigDocument(ctx)
		if errors.Is(err, state.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		source = SourceAPI
		// Stored documents were valid when set, but validators may have
		// grown stricter since.
		f, err = Parse("stored configuration", []byte(doc), m.opt.Options)
	default:
		return nil
	}
	if err != nil {
		return err
	}
	if err := m.apply(ctx, f); err != nil {
		return err
	}
	m.set(f, source, at)
	return nil
}

// Set validates doc as Parse does, applies it and stores it, for PUT
// /api/v1/config. It returns ErrFileSource when the Manager runs from a
// file, and Parse's errors (see Errors) when doc is not valid.
func (m *Manager) Set(ctx context.Context, doc []byte) error {
	if m.opt.Path != "" {
		return fmt.Errorf("%w (%s): edit it and reload (SIGHUP or POST /-/reload)", ErrFileSource, m.opt.Path)
	}
	f, err := Parse("config", doc, m.opt.Options)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	at := m.opt.Now()
	if err := m.apply(ctx, f); err != nil {
		return err
	}
	m.set(f, SourceAPI, at)
	if m.opt.Store != nil {
		if err := m.opt.Store.SetConfigDocument(ctx, string(doc), at); err != nil {
			return fmt.Errorf("configuration applied but not stored, so a restart loses it: %w", err)
		}
	}
	return nil
}

func (m *Manager) apply(ctx context.Context, f *File) error {
	if m.opt.Apply == nil {
		return nil
	}
	if err := m.opt.Apply(ctx, f); err != nil {
		return fmt.Errorf("cannot apply configuration: %w", err)
	}
	return nil
}

func (m *Manager) set(f *File, source string, at time.Time) {
	m.cur.Lock()
	defer m.cur.Unlock()
	m.file, m.source, m.loaded = f, source, at
}

// Current returns the configuration in effect (never nil: empty when
// nothing is configured; callers must not modify it), where it came from
// (SourceFile, SourceAPI or SourceNone), the file's path for SourceFile,
// and when it was loaded (for SourceAPI: when the document was set; zero
// for SourceNone).
func (m *Manager) Current() (f *File, source, path string, loaded time.Time) {
	m.cur.Lock()
	defer m.cur.Unlock()
	if m.source == SourceFile {
		path = m.opt.Path
	}
	return m.file, m.source, path, m.loaded
}

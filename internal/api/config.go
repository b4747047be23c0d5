package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/fibinc/telltale/internal/config"
)

// ConfigSource is the server's configuration (uptime checks, alert rules,
// channels, routes, silences, maintenance) as /api/v1/config reads and
// sets it. *config.Manager implements it.
type ConfigSource interface {
	// Current returns the configuration in effect (not nil), its source
	// (config.SourceFile, SourceAPI or SourceNone), the file's path for
	// SourceFile, and when it was loaded.
	Current() (f *config.File, source, path string, loaded time.Time)
	// Set validates, applies and stores a YAML document. It returns an
	// error wrapping config.ErrFileSource when the server runs from a
	// file, and config.Parse's errors when the document is not valid.
	Set(ctx context.Context, doc []byte) error
}

// configBody is the answer of GET and PUT /api/v1/config.
type configBody struct {
	Source   string       `json:"source"`
	Path     string       `json:"path,omitempty"`
	LoadedAt time.Time    `json:"loaded_at,omitzero"`
	Config   *config.File `json:"config"`
}

// configHandler serves /api/v1/config: GET the configuration in effect,
// secrets redacted; PUT a new one, as YAML.
func (h *handler) configHandler(src ConfigSource) http.Handler {
	current := func() configBody {
		if src == nil {
			return configBody{Source: config.SourceNone, Config: &config.File{}}
		}
		f, source, path, loaded := src.Current()
		return configBody{Source: source, Path: path, LoadedAt: loaded, Config: f.Redacted()}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.writeJSON(w, http.StatusOK, response{Data: current()})
		case http.MethodPut:
			if src == nil {
				h.writeJSON(w, http.StatusNotFound, errorBody{"this server does not take its configuration through the API"})
				return
			}
			doc, err := io.ReadAll(http.MaxBytesReader(w, r.Body, config.MaxFileBytes))
			if err != nil {
				h.writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{fmt.Sprintf("configuration larger than %d bytes", config.MaxFileBytes)})
				return
			}
			err = src.Set(r.Context(), doc)
			switch {
			case err == nil:
				h.writeJSON(w, http.StatusOK, response{Data: current()})
			case errors.Is(err, config.ErrFileSource):
				h.writeJSON(w, http.StatusConflict, errorBody{err.Error()})
			case len(config.Errors(err)) > 0:
				// Every problem, one per line, as telltale check config
				// prints them.
				h.writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
			default:
				h.fail(w, r, err)
			}
		default:
			w.Header().Set("Allow", "GET, HEAD, PUT")
			h.writeJSON(w, http.StatusMethodNotAllowed, errorBody{fmt.Sprintf("method %s is not allowed; use GET or PUT", r.Method)})
		}
	})
}

package web

import "net/http"

// errorQueries is what the errors page reads.
type errorQueries interface{}

func (s *server) errorRoutes(mux *http.ServeMux) {}

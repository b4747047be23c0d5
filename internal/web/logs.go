package web

import "net/http"

// logQueries is what the logs page reads.
type logQueries interface{}

func (s *server) logRoutes(mux *http.ServeMux) {}

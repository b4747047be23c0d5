package web

import "net/http"

// requestQueries is what the request page reads.
type requestQueries interface{}

func (s *server) requestRoutes(mux *http.ServeMux) {}

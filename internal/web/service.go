package web

import "net/http"

// serviceQueries is what the service page reads.
type serviceQueries interface{}

func (s *server) serviceRoutes(mux *http.ServeMux) {}

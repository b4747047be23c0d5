package web

import "net/http"

// metricQueries is what the explore page reads.
type metricQueries interface{}

func (s *server) metricRoutes(mux *http.ServeMux) {}

package web

import "net/http"

// mapQueries is what the map page reads.
type mapQueries interface{}

func (s *server) mapRoutes(mux *http.ServeMux) {}

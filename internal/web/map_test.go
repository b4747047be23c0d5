package web

// fakeMap is the map page's part of fakeQueries.
type fakeMap struct{}

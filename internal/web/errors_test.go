package web

// fakeErrors is the errors page's part of fakeQueries.
type fakeErrors struct{}

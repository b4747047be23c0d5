package web

// fakeLogs is the logs page's part of fakeQueries.
type fakeLogs struct{}

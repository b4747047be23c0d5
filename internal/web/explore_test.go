package web

// fakeMetrics is the explore page's part of fakeQueries.
type fakeMetrics struct{}

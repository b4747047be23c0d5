package web

// fakeRequests is the request page's part of fakeQueries.
type fakeRequests struct{}

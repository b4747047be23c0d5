package web

// fakeServicePage is the service page's part of fakeQueries.
type fakeServicePage struct{}

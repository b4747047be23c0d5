package kit_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"

	"github.com/fibinc/telltale/kit"
)

// The two lines that make a service observable: Init, then Handler
// around the service's handler.
func ExampleInit() {
	ctx := context.Background()
	shutdown, err := kit.Init(ctx, kit.Config{Service: "pricing", Version: "1.4.0", Environment: "prod"})
	if err != nil {
		log.Fatal(err)
	}
	defer shutdown(ctx)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /cost/{n}", func(w http.ResponseWriter, r *http.Request) {
		kit.Logger().InfoContext(r.Context(), "pricing", "n", r.PathValue("n"))
		fmt.Fprintln(w, 42)
	})
	_ = http.ListenAndServe(":8080", kit.Handler(mux))
}

// A HandlerFunc returns its errors; Handler answers them with a status and
// a JSON error body, and a Client turns that body back into an error.
func ExampleHandlerFunc() {
	mux := http.NewServeMux()
	mux.Handle("GET /fib/{n}", kit.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil {
			return kit.WithStatus(fmt.Errorf("n must be a whole number: %w", err), http.StatusBadRequest)
		}
		fmt.Fprintln(w, n)
		return nil
	}))
	srv := httptest.NewServer(kit.Handler(mux))
	defer srv.Close()

	err := kit.NewClient(srv.URL).Get(context.Background(), "/fib/4.5", nil)
	var re *kit.RemoteError
	if errors.As(err, &re) {
		fmt.Println(re.StatusCode, re.Type)
		fmt.Println(re.Message)
	}
	// Output:
	// 400 *strconv.NumError
	// n must be a whole number: strconv.Atoi: parsing "4.5": invalid syntax
}

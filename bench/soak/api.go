package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
)

// apiClient reads Telltale's API, with an API token when the server asks
// for one: given, or created by logging in as an administrator.
type apiClient struct {
	base       string
	token      string
	user, pass string
	client     *http.Client
	triedLogin bool
}

type project struct {
	ID        int64  `json:"id"`
	PublicKey string `json:"public_key"`
}

// firstProject returns the first project of GET /api/v1/projects.
func (a *apiClient) firstProject() (project, error) {
	var list struct {
		Data []project `json:"data"`
	}
	if err := a.get("/api/v1/projects", &list); err != nil {
		return project{}, err
	}
	if len(list.Data) == 0 || list.Data[0].PublicKey == "" {
		return project{}, errors.New("the server lists no project with a public key")
	}
	return list.Data[0], nil
}

func (a *apiClient) get(path string, v any) error {
	if a.client == nil {
		jar, _ := cookiejar.New(nil)
		a.client = &http.Client{Jar: jar}
	}
	for {
		req, err := http.NewRequest("GET", a.base+path, nil)
		if err != nil {
			return err
		}
		if a.token != "" {
			req.Header.Set("Authorization", "Bearer "+a.token)
		}
		resp, err := a.client.Do(req)
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && a.token == "" && a.pass != "" && !a.triedLogin {
			a.triedLogin = true
			if err := a.login(); err != nil {
				return fmt.Errorf("GET %s needs a login: %w", path, err)
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: HTTP %d: %.200s (give -token or -admin-password if the API needs a login)", path, resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("GET %s: cannot decode the answer: %w", path, err)
		}
		return nil
	}
}

// login posts the administrator's name and password to /api/v1/login,
// then creates an API token through POST /api/v1/tokens with the session
// and its CSRF token.
func (a *apiClient) login() error {
	b, _ := json.Marshal(map[string]string{"name": a.user, "password": a.pass})
	ans, err := a.postJSON("/api/v1/login", b, "")
	if err != nil {
		return err
	}
	csrf := findString(ans, "csrf")
	ans, err = a.postJSON("/api/v1/tokens", []byte(`{"name":"soak"}`), csrf)
	if err != nil {
		return fmt.Errorf("cannot create an API token: %w", err)
	}
	if a.token = findString(ans, "token"); !strings.HasPrefix(a.token, "tt_") {
		return fmt.Errorf("no token (tt_...) in the answer of POST /api/v1/tokens: %v", ans)
	}
	return nil
}

func (a *apiClient) postJSON(path string, body []byte, csrf string) (map[string]any, error) {
	req, err := http.NewRequest("POST", a.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("POST %s: HTTP %d: %.200s", path, resp.StatusCode, b)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m, nil
}

// findString returns the string value of the first key named key, at any
// depth of v.
func findString(v any, key string) string {
	switch v := v.(type) {
	case map[string]any:
		if s, ok := v[key].(string); ok {
			return s
		}
		for _, x := range v {
			if s := findString(x, key); s != "" {
				return s
			}
		}
	case []any:
		for _, x := range v {
			if s := findString(x, key); s != "" {
				return s
			}
		}
	}
	return ""
}

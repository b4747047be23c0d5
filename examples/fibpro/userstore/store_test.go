package userstore

import (
	"maps"
	"os"
	"path/filepath"
	"testing"
)

func FuzzDecodeFile(f *testing.F) {
	f.Add([]byte(`{"users":[]}`))
	f.Add([]byte(`{"users":[{"name":"a","balance":5,"salt":"00ff","hash":"` + hashPassword([]byte{0, 255}, "pw") + `"}]}`))
	f.Add([]byte(`{"users":[{"name":"a","balance":5,"salt":"00","hash":"00"}]}`))
	f.Add([]byte(`{"users":[{"name":"","balance":5}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		users, err := decodeFile(data)
		if err != nil {
			return
		}
		for name, u := range users {
			if name == "" || name != u.Name || u.Balance < 0 || u.Balance > maxBalance {
				t.Fatalf("accepted user %+v", u)
			}
		}
		// What is accepted saves and loads back the same.
		s := &store{path: filepath.Join(t.TempDir(), "users.json")}
		if err := s.save(users); err != nil {
			t.Fatal(err)
		}
		saved, err := os.ReadFile(s.path)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeFile(saved)
		if err != nil || !maps.Equal(users, again) {
			t.Fatalf("round trip: %v, %v != %v", err, again, users)
		}
	})
}

func TestFailedSaveChangesNothing(t *testing.T) {
	dir := t.TempDir()
	s, err := openStore(filepath.Join(dir, "users.json"))
	if err != nil {
		t.Fatal(err)
	}
	s.path = filepath.Join(dir, "gone", "users.json") // cannot be written
	if _, err := s.debit("alice", 10); err == nil {
		t.Fatal("debit saved to a missing directory")
	}
	if a, _ := s.get("alice"); a.Balance != 1000 {
		t.Errorf("alice's balance %d after a failed save, want 1000", a.Balance)
	}
}

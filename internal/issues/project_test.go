package issues

import (
	"context"
	"testing"

	"github.com/fibinc/telltale/internal/ingest/ingestkey"
	"github.com/fibinc/telltale/internal/telemetry"
)

// TestProjectOfKey: an event that names no project goes to the project of
// the ingest key in the context, else to the default project.
func TestProjectOfKey(t *testing.T) {
	f := newFixture(t, 0)
	other, err := f.st.CreateProject(context.Background(), "other", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := ingestkey.WithKey(context.Background(), &ingestkey.Key{Project: other})
	b := &telemetry.Batch{Errors: []telemetry.ErrorEvent{goError("debit", "no credit", f.now)}}
	if err := f.tr.Append(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := b.Errors[0].ProjectID; got != other.ID {
		t.Errorf("event with the other project's key in project %d, want %d", got, other.ID)
	}
	if iss := f.issue(t, b.Errors[0].IssueID); iss.ProjectID != other.ID {
		t.Errorf("issue in project %d, want %d", iss.ProjectID, other.ID)
	}
	evs := f.append(t, goError("debit", "no credit", f.now))
	if evs[0].ProjectID == other.ID || evs[0].IssueID == b.Errors[0].IssueID {
		t.Errorf("event without a key: project %d issue %d; want the default project and another issue", evs[0].ProjectID, evs[0].IssueID)
	}
}

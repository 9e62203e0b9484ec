package docs

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestTimeBankPathsDocumented validates the document and checks that every
// time bank and mall endpoint is in it.
func TestTimeBankPathsDocumented(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPIYAML())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("invalid OpenAPI document: %v", err)
	}
	for path, methods := range map[string][]string{
		"/me/account":              {"GET"},
		"/me/ledger":               {"GET"},
		"/me/gifts":                {"POST"},
		"/leaderboards":            {"GET"},
		"/admin/credits":           {"POST"},
		"/admin/reconcile":         {"GET"},
		"/mall/goods":              {"GET", "POST"},
		"/mall/goods/{id}":         {"GET", "PUT", "DELETE"},
		"/mall/orders":             {"GET", "POST"},
		"/mall/orders/mine":        {"GET"},
		"/mall/orders/{id}/cancel": {"POST"},
		"/mall/orders/verify":      {"POST"},
	} {
		item := doc.Paths.Find(path)
		if item == nil {
			t.Errorf("%s is not documented", path)
			continue
		}
		for _, m := range methods {
			if item.GetOperation(m) == nil {
				t.Errorf("%s %s is not documented", m, path)
			}
		}
	}
}

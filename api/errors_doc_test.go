package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestEveryErrorCodeDocumented: every exported Code… constant of package
// service is a row of docs/errors.md whose HTTP column starts with the status
// httpStatus answers it with, and every row of that table is such a code.
func TestEveryErrorCodeDocumented(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("../service/*.go")
	if err != nil {
		t.Fatal(err)
	}
	codes := map[int]string{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Code") || !name.IsExported() || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.INT {
						continue
					}
					n, err := strconv.Atoi(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					codes[n] = name.Name
				}
			}
		}
	}
	if len(codes) < 20 {
		t.Fatalf("found only %d codes in ../service", len(codes))
	}
	doc, err := os.ReadFile("../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[int]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(\\d+)` \\| ([^|]+)\\|").FindAllStringSubmatch(string(doc), -1) {
		n, _ := strconv.Atoi(m[1])
		rows[n] = strings.TrimSpace(m[2])
	}
	for code, name := range codes {
		status, ok := rows[code]
		if !ok {
			t.Errorf("docs/errors.md lacks %s (%d)", name, code)
			continue
		}
		if want := strconv.Itoa(httpStatus(code)); !strings.HasPrefix(status, want) {
			t.Errorf("docs/errors.md gives %d (%s) the status %q; it is answered with %s", code, name, status, want)
		}
	}
	for code := range rows {
		if _, ok := codes[code]; !ok {
			t.Errorf("docs/errors.md lists %d, which is no code of package service", code)
		}
	}
}

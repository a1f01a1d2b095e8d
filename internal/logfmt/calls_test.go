package logfmt

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// kvStart is where the key-value pairs begin in the arguments of each
// method that takes them.
var kvStart = map[string]int{"Debug": 1, "Info": 1, "Warn": 1, "Error": 1, "Log": 2, "With": 0}

// TestCallsHaveKeyValuePairs stands in for go vet's slog check, which knows
// only log/slog's functions. In every package of the module that imports
// logfmt it finds, in the files other than tests, the calls of methods named
// as Logger's (without types: by name) and wants after the message an even
// number of arguments, each key a string literal. A call passing args... is
// not checked.
func TestCallsHaveKeyValuePairs(t *testing.T) {
	const self = "github.com/vservers/vserver/internal/logfmt"
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	pkgs := map[string][]*ast.File{} // directory to its files
	uses := map[string]bool{}        // directories importing logfmt
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		pkgs[dir] = append(pkgs[dir], f)
		for _, im := range f.Imports {
			if p, _ := strconv.Unquote(im.Path.Value); p == self {
				uses[dir] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for dir := range uses {
		for _, f := range pkgs[dir] {
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				start, ok := kvStart[sel.Sel.Name]
				if !ok || len(call.Args) < start || len(call.Args) == 0 || call.Ellipsis.IsValid() {
					return true
				}
				checked++
				kv := call.Args[start:]
				if len(kv)%2 != 0 {
					t.Errorf("%s: %s call with an odd number of arguments after the message (%d): a key without a value", fset.Position(call.Pos()), sel.Sel.Name, len(kv))
				}
				for i := 0; i < len(kv); i += 2 {
					if lit, ok := kv[i].(*ast.BasicLit); !ok || lit.Kind != token.STRING {
						t.Errorf("%s: %s call: key %d is not a string literal", fset.Position(kv[i].Pos()), sel.Sel.Name, i/2+1)
					}
				}
				return true
			})
		}
	}
	if len(uses) < 4 || checked < 50 {
		t.Errorf("checked %d calls in %d packages: is the module's layout still what the test walks?", checked, len(uses))
	}
	t.Logf("checked %d calls in %d packages", checked, len(uses))
}

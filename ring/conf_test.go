package ring

import (
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The FreeSWITCH configuration shipped in freeswitch-conf/ must be
// well-formed XML (the switch refuses to load a file that is not), and the
// scripts its dialplan runs must exist in lua/.
func TestFreeSWITCHConfWellFormed(t *testing.T) {
	root := filepath.Join("..", "freeswitch-conf")
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".xml") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d XML files in %s, want lua.conf, dialplan, vars and directory", len(files), root)
	}
	for _, f := range files {
		t.Run(strings.TrimPrefix(f, root+string(filepath.Separator)), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dec := xml.NewDecoder(strings.NewReader(string(data)))
			dec.Strict = true
			roots := 0
			depth := 0
			for {
				tok, err := dec.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("not well-formed: %v", err)
				}
				switch el := tok.(type) {
				case xml.StartElement:
					if depth == 0 {
						roots++
					}
					depth++
					checkLuaAction(t, el)
				case xml.EndElement:
					depth--
				}
			}
			if roots != 1 {
				t.Fatalf("%d root elements, want 1", roots)
			}
		})
	}
}

// checkLuaAction checks that <action application="lua" data="x.lua ..."/>
// names a script that make install installs.
func checkLuaAction(t *testing.T, el xml.StartElement) {
	t.Helper()
	if el.Name.Local != "action" {
		return
	}
	var app, data string
	for _, a := range el.Attr {
		switch a.Name.Local {
		case "application":
			app = a.Value
		case "data":
			data = a.Value
		}
	}
	if app != "lua" {
		return
	}
	script := strings.Fields(data)[0]
	if _, err := os.Stat(filepath.Join("..", "lua", script)); err != nil {
		t.Errorf("dialplan runs %s, which lua/ does not have: %v", script, err)
	}
}

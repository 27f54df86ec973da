package keyward

import (
	"bytes"
	_ "embed"
)

// CycleCatalogName is the value of `keyward serve --permissions` that selects CycleCatalog; a
// catalog file of that name is read as ./cycle.
const CycleCatalogName = "cycle"

//go:embed catalog_cycle.json
var cycleCatalogJSON []byte

// CycleCatalog returns the built-in catalog for teams coming from Cycle.io: Cycle's capability
// names and descriptions, grouped, with keyward's management permissions (which Cycle's
// api-keys-manage is one of) in a group of their own.
func CycleCatalog() *Catalog {
	c, err := ParseCatalog(bytes.NewReader(cycleCatalogJSON))
	if err != nil {
		panic(err) // the built-in list is fixed; a test proves it valid
	}
	return c
}

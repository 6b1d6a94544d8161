package wedmesync_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wedsync/integrations/wedmesync"
)

func ExampleSharePolicy_Filter() {
	at := wedmesync.Timestamp{Wall: 1_780_000_000_000, Node: "wedme-1"}
	c := wedmesync.Change{
		ID: "chg-1", Origin: wedmesync.SideWedMe, Couple: "couple-1",
		Type: wedmesync.TypeDietary, Record: "main",
		Fields: map[string]wedmesync.FieldValue{
			"vegan":     {Value: json.RawMessage(`3`), At: at},
			"allergies": {Value: json.RawMessage(`["peanuts"]`), At: at},
		},
	}
	p := wedmesync.DefaultSharing()
	for _, kind := range []string{"caterer", "photographer"} {
		out, ok := p.Filter(kind, c)
		fmt.Println(kind, ok, len(out.Fields))
	}
	// Output:
	// caterer true 2
	// photographer false 0
}

func ExampleChange_Validate() {
	typ, fields, _ := wedmesync.FieldsOf(wedmesync.GuestSummary{Adults: 80, Children: 6})
	c := wedmesync.Change{
		ID: "chg-1", Origin: wedmesync.SideWedMe, Couple: "couple-1", Type: typ, Record: "main",
		Fields: map[string]wedmesync.FieldValue{},
	}
	at := wedmesync.Timestamp{Wall: 1_780_000_000_000, Node: "wedme-1"}
	for name, v := range fields {
		c.Fields[name] = wedmesync.FieldValue{Value: v, At: at}
	}
	fmt.Println(c.Validate(wedmesync.SideWedMe))

	c.Fields["adults"] = wedmesync.FieldValue{Value: json.RawMessage(`"eighty"`), At: at}
	err := c.Validate(wedmesync.SideSupplier) // a supplier may not write guest numbers
	fmt.Println(errors.Is(err, wedmesync.ErrInvalid))
	fmt.Println(err)
	// Output:
	// <nil>
	// true
	// wedmesync: Change.Origin: must be "supplier", the side the change came from, got "wedme"
	// wedmesync: Change.Supplier: must be 1 to 200 bytes, got 0
	// wedmesync: Change.Fields["adults"]: supplier may not write it (only wedme)
	// wedmesync: Change.Fields["adults"]: must be an integer 0 to 2000, got "eighty"
	// wedmesync: Change.Fields["children"]: supplier may not write it (only wedme)
	// wedmesync: Change.Fields["infants"]: supplier may not write it (only wedme)
}

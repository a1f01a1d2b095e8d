// Package strictyaml decodes YAML documents into Go values strictly and with
// positions. It walks the gopkg.in/yaml.v3 node tree itself rather than
// calling yaml.Node.Decode, which drops KnownFields (go-yaml#460), so every
// unknown key, duplicate key and wrongly typed value is reported, all at once,
// as file:line:column: field: message, where field is a dotted path such as
// network.addresses[1].
//
// Typical use:
//
//	doc, err := strictyaml.Parse(file, data)
//	if err != nil {
//		return err // syntax error, empty file, not a mapping
//	}
//	var errs strictyaml.Errors
//	errs.Append(doc.Decode(&cfg))
//	if _, err := netip.ParseAddr(cfg.Network.Addresses[0]); err != nil {
//		errs.Append(doc.Errorf("network.addresses[0]", "not an IP address: %q", cfg.Network.Addresses[0]))
//	}
//	return errs.Err()
package strictyaml

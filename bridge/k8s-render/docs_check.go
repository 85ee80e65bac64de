package main

// Every value in values.yaml is documented: each leaf key has a comment of its own,
// or its parent key has one (a value explained together with its siblings, such as
// the entries of resources or labels).

import (
	"fmt"
	"os"
	"strings"

	yaml "gopkg.in/yaml.v3"
)

func commented(k *yaml.Node) bool {
	return strings.TrimSpace(k.HeadComment) != "" || strings.TrimSpace(k.LineComment) != ""
}

// CheckValuesDocumented returns the dotted paths of undocumented values.
func CheckValuesDocumented(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	var missing []string
	var walk func(m *yaml.Node, prefix string, parentDocumented bool)
	walk = func(m *yaml.Node, prefix string, parentDocumented bool) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			p := prefix + k.Value
			documented := commented(k)
			if v.Kind == yaml.MappingNode && len(v.Content) > 0 && v.Style&yaml.FlowStyle == 0 {
				walk(v, p+".", documented)
				continue
			}
			if !documented && !parentDocumented {
				missing = append(missing, p)
			}
		}
	}
	walk(doc.Content[0], "", false)
	return missing, nil
}

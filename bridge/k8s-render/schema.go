package main

// A validator for the JSON Schema keywords values.schema.json uses (draft-07
// subset): type, properties, required, additionalProperties (bool or schema), items,
// enum, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength,
// pattern. An unknown keyword is an error, so the schema cannot silently rely on a
// rule this checker does not enforce.

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strings"
)

var knownKeywords = map[string]bool{
	"$schema": true, "title": true, "description": true, "type": true, "properties": true,
	"required": true, "additionalProperties": true, "items": true, "enum": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true,
	"minLength": true, "maxLength": true, "pattern": true,
}

func asFloat(v interface{}) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func typeOK(want string, v interface{}) bool {
	switch want {
	case "object":
		_, ok := v.(map[string]interface{})
		return ok
	case "array":
		_, ok := v.([]interface{})
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := asFloat(v)
		return ok
	case "integer":
		f, ok := asFloat(v)
		return ok && f == math.Trunc(f)
	case "null":
		return v == nil
	}
	return false
}

// Validate returns every violation of schema by v, each prefixed with its path.
func Validate(schema map[string]interface{}, v interface{}, path string) []string {
	var errs []string
	bad := func(format string, a ...interface{}) {
		errs = append(errs, path+": "+fmt.Sprintf(format, a...))
	}
	for k := range schema {
		if !knownKeywords[k] {
			bad("schema keyword %q is not supported by this checker", k)
		}
	}
	if t, ok := schema["type"]; ok {
		var types []string
		switch tt := t.(type) {
		case string:
			types = []string{tt}
		case []interface{}:
			for _, x := range tt {
				types = append(types, fmt.Sprint(x))
			}
		}
		match := false
		for _, tt := range types {
			if typeOK(tt, v) {
				match = true
			}
		}
		if !match {
			bad("is %T, want %s", v, strings.Join(types, " or "))
			return errs
		}
	}
	if e, ok := schema["enum"].([]interface{}); ok {
		found := false
		for _, x := range e {
			if reflect.DeepEqual(x, v) {
				found = true
			}
		}
		if !found {
			bad("%v is not one of %v", v, e)
		}
	}
	if f, ok := asFloat(v); ok {
		if m, ok := asFloat(schema["minimum"]); ok && f < m {
			bad("%v < minimum %v", f, m)
		}
		if m, ok := asFloat(schema["maximum"]); ok && f > m {
			bad("%v > maximum %v", f, m)
		}
		if m, ok := asFloat(schema["exclusiveMinimum"]); ok && f <= m {
			bad("%v <= exclusiveMinimum %v", f, m)
		}
		if m, ok := asFloat(schema["exclusiveMaximum"]); ok && f >= m {
			bad("%v >= exclusiveMaximum %v", f, m)
		}
	}
	if s, ok := v.(string); ok {
		n := float64(len([]rune(s)))
		if m, ok := asFloat(schema["minLength"]); ok && n < m {
			bad("shorter than %v", m)
		}
		if m, ok := asFloat(schema["maxLength"]); ok && n > m {
			bad("longer than %v", m)
		}
		if p, ok := schema["pattern"].(string); ok {
			re, err := regexp.Compile(p)
			if err != nil {
				bad("bad pattern %q: %v", p, err)
			} else if !re.MatchString(s) {
				bad("%q does not match %s", s, p)
			}
		}
	}
	if m, ok := v.(map[string]interface{}); ok {
		props, _ := schema["properties"].(map[string]interface{})
		if req, ok := schema["required"].([]interface{}); ok {
			for _, r := range req {
				if _, ok := m[fmt.Sprint(r)]; !ok {
					bad("missing required %q", r)
				}
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k].(map[string]interface{}); ok {
				errs = append(errs, Validate(ps, m[k], path+"."+k)...)
				continue
			}
			switch ap := schema["additionalProperties"].(type) {
			case bool:
				if !ap {
					errs = append(errs, path+"."+k+": not allowed (unknown value; a typo?)")
				}
			case map[string]interface{}:
				errs = append(errs, Validate(ap, m[k], path+"."+k)...)
			}
		}
	}
	if a, ok := v.([]interface{}); ok {
		if is, ok := schema["items"].(map[string]interface{}); ok {
			for i, x := range a {
				errs = append(errs, Validate(is, x, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return errs
}

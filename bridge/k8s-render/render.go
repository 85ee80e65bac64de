package main

// A renderer for Helm charts that covers what charts/variant-autoscaler uses: Go
// text/template with Masterminds' sprig functions (the same library Helm uses), plus
// the functions Helm adds itself (include, tpl, required, toYaml, fromYaml, toJson,
// fromJson, lookup), the built-in objects .Values, .Release, .Chart, .Capabilities,
// .Template and .Files, values merged from values.yaml and -f files, partials
// (_*.tpl) and NOTES.txt handled as Helm does.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	sprig "github.com/Masterminds/sprig"
	yaml "gopkg.in/yaml.v3"
)

// Chart is a chart directory loaded into memory.
type Chart struct {
	Dir       string
	Meta      map[string]interface{} // Chart.yaml
	Values    map[string]interface{} // values.yaml
	Templates map[string]string      // "name/templates/x.yaml" -> text
	Files     map[string][]byte      // every other file, by path relative to Dir
}

// Rendered is the output of one render.
type Rendered struct {
	Manifests map[string]string // template name -> rendered text (non-empty only)
	Notes     string
}

func loadYAMLFile(path string) (map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return normalize(m).(map[string]interface{}), nil
}

// normalize turns YAML-decoded values into JSON-like ones (map[string]interface{}).
func normalize(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, x := range t {
			t[k] = normalize(x)
		}
		return t
	case map[interface{}]interface{}:
		m := map[string]interface{}{}
		for k, x := range t {
			m[fmt.Sprint(k)] = normalize(x)
		}
		return m
	case []interface{}:
		for i, x := range t {
			t[i] = normalize(x)
		}
		return t
	}
	return v
}

// LoadChart reads Chart.yaml, values.yaml, templates/ and every other file.
func LoadChart(dir string) (*Chart, error) {
	c := &Chart{Dir: dir, Templates: map[string]string{}, Files: map[string][]byte{}}
	var err error
	if c.Meta, err = loadYAMLFile(filepath.Join(dir, "Chart.yaml")); err != nil {
		return nil, err
	}
	if c.Values, err = loadYAMLFile(filepath.Join(dir, "values.yaml")); err != nil {
		return nil, err
	}
	name, _ := c.Meta["name"].(string)
	if name == "" {
		return nil, fmt.Errorf("%s/Chart.yaml: no name", dir)
	}
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "templates/") {
			c.Templates[name+"/"+rel] = string(b)
		} else {
			c.Files[rel] = b
		}
		return nil
	})
	return c, err
}

// MergeValues deep-merges src into dst as Helm does: maps merge key by key, anything
// else replaces, and a null in src deletes the key.
func MergeValues(dst, src map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range dst {
		out[k] = v
	}
	for k, v := range src {
		if v == nil {
			delete(out, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := out[k].(map[string]interface{})
		if sok && dok {
			out[k] = MergeValues(dm, sm)
		} else {
			out[k] = v
		}
	}
	return out
}

// Files is .Files: the chart's non-template files.
type Files map[string][]byte

func (f Files) Get(name string) string      { return string(f[name]) }
func (f Files) GetBytes(name string) []byte { return f[name] }

// ToYAML marshals like Helm's toYaml: two-space indent, no trailing newline.
func ToYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	enc.Close()
	return strings.TrimSuffix(buf.String(), "\n")
}

func funcMap(root **template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	// Helm removes these: a chart must not read the renderer's environment.
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = ToYAML
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["toJson"] = func(v interface{}) string {
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, fmt.Errorf("%s", msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		if err := (*root).ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := (*root).Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	// No cluster here: lookup finds nothing, as in `helm template`.
	f["lookup"] = func(string, string, string, string) map[string]interface{} {
		return map[string]interface{}{}
	}
	return f
}

// Render renders every template of the chart with the given values.
func Render(c *Chart, values map[string]interface{}, releaseName, namespace string) (*Rendered, error) {
	name := c.Meta["name"].(string)
	var root *template.Template
	root = template.New(name).Funcs(funcMap(&root)).Option("missingkey=zero")
	names := make([]string, 0, len(c.Templates))
	for n := range c.Templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := root.New(n).Parse(c.Templates[n]); err != nil {
			return nil, err
		}
	}
	str := func(k string) string { s, _ := c.Meta[k].(string); return s }
	chart := map[string]interface{}{
		"Name": name, "Version": str("version"), "AppVersion": str("appVersion"),
		"Description": str("description"), "Type": str("type"), "KubeVersion": str("kubeVersion"),
	}
	out := &Rendered{Manifests: map[string]string{}}
	for _, n := range names {
		base := filepath.Base(n)
		if strings.HasPrefix(base, "_") {
			continue
		}
		data := map[string]interface{}{
			"Values": values,
			"Release": map[string]interface{}{
				"Name": releaseName, "Namespace": namespace, "Service": "Helm",
				"IsInstall": true, "IsUpgrade": false, "Revision": 1,
			},
			"Chart": chart,
			"Capabilities": map[string]interface{}{
				"KubeVersion": map[string]interface{}{"Version": "v1.30.0", "Major": "1", "Minor": "30"},
			},
			"Template": map[string]interface{}{"Name": n, "BasePath": name + "/templates"},
			"Files":    Files(c.Files),
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, n, data); err != nil {
			return nil, err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" {
			out.Notes = text
			continue
		}
		if strings.TrimSpace(text) != "" {
			out.Manifests[n] = text
		}
	}
	return out, nil
}

// Stream joins the manifests as `helm template` prints them.
func (r *Rendered) Stream() string {
	names := make([]string, 0, len(r.Manifests))
	for n := range r.Manifests {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		for _, doc := range SplitDocs(r.Manifests[n]) {
			b.WriteString("---\n# Source: " + n + "\n")
			b.WriteString(strings.TrimRight(doc, " \n") + "\n")
		}
	}
	return b.String()
}

// SplitDocs splits a YAML stream at "---" lines and drops empty documents.
func SplitDocs(text string) []string {
	var docs []string
	var cur []string
	flush := func() {
		d := strings.Join(cur, "\n")
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, strings.TrimLeft(d, "\n"))
		}
		cur = nil
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimRight(line, " ") == "---" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}

func stripComments(d string) string {
	var keep []string
	for _, l := range strings.Split(d, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const chartDir = "../../charts/variant-autoscaler"
const apiCallsPath = "../actuator/k8s_api_calls.txt"

func TestMetricNames(t *testing.T) {
	cases := map[string][]string{
		`sum(variant_cost_per_hour)`: {"variant_cost_per_hour"},
		`1 - sum(a) / sum(b)`:        {"a", "b"},
		`histogram_quantile(0.95, sum by (le, model_name) (rate(vllm:time_to_first_token_seconds_bucket[5m])))`: {
			"vllm:time_to_first_token_seconds_bucket"},
		`sum by (model_name) (rate(x_bucket{le="0.5", model_name=~"a|b"}[5m])) / ignoring(le) group_left sum(y)`: {"x_bucket", "y"},
		`sum(sum_over_time(m1[$__range:1m]) - sum_over_time(m2[${__range}:1m])) / 60`:                            {"m1", "m2"},
		`max(variant_desired_replicas{model="llama",variant="v",role="pd"}) > bool 1e3 offset 5m`:                {"variant_desired_replicas"},
		`count without (pod) (up) and on (job) vector(1)`:                                                        {"up"},
	}
	for expr, want := range cases {
		got, err := MetricNames(expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", expr, got, want)
		}
	}
	for _, bad := range []string{`sum(x{a="b"`, `rate(x[5m)`, `x{a="b}`} {
		if _, err := MetricNames(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestMergeValues(t *testing.T) {
	dst := map[string]interface{}{"a": map[string]interface{}{"b": 1, "c": 2}, "l": []interface{}{1, 2}, "gone": 3}
	src := map[string]interface{}{"a": map[string]interface{}{"c": 5}, "l": []interface{}{9}, "gone": nil}
	got := MergeValues(dst, src)
	want := map[string]interface{}{"a": map[string]interface{}{"b": 1, "c": 5}, "l": []interface{}{9}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
}

func loadSchema(t *testing.T) map[string]interface{} {
	b, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := map[string]interface{}{}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSchemaAcceptsDefaultsAndRejectsMistakes(t *testing.T) {
	c, err := LoadChart(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	s := loadSchema(t)
	if errs := Validate(s, c.Values, "values"); len(errs) > 0 {
		t.Fatalf("defaults rejected: %v", errs)
	}
	bad := []map[string]interface{}{
		{"actuator": map[string]interface{}{"mode": "dirct"}},
		{"agnet": map[string]interface{}{}},
		{"agent": map[string]interface{}{"metricsPort": 70000}},
		{"agent": map[string]interface{}{"replicas": "1"}},
		{"rbac": map[string]interface{}{"targetNamespaces": []interface{}{"Bad_NS"}}},
		{"scaledVariants": []interface{}{map[string]interface{}{"name": "x", "namespace": "y"}}},
	}
	for _, b := range bad {
		if errs := Validate(s, MergeValues(c.Values, b), "values"); len(errs) == 0 {
			t.Errorf("accepted %v", b)
		}
	}
}

// renderDocs renders the chart with defaults plus overrides and parses it.
func renderDocs(t *testing.T, override map[string]interface{}) ([]Doc, map[string]interface{}) {
	c, err := LoadChart(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	values := MergeValues(c.Values, override)
	r, err := Render(c, values, "variant", "variant-system")
	if err != nil {
		t.Fatal(err)
	}
	docs, errs := ParseStream(r.Stream())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return docs, values
}

func allChecks(t *testing.T, docs []Doc, values map[string]interface{}) []string {
	calls, err := LoadAPICalls(apiCallsPath)
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := LoadMetrics(filepath.Join(chartDir, "metrics.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	errs = append(errs, CheckStructure(docs)...)
	errs = append(errs, CheckWorkloads(docs)...)
	errs = append(errs, CheckServices(docs)...)
	errs = append(errs, CheckRBAC(docs, ExpectedGrants(calls, values), values)...)
	m, _ := CheckMetrics(docs, metrics)
	return append(errs, m...)
}

func TestDefaultChartIsClean(t *testing.T) {
	docs, values := renderDocs(t, nil)
	if errs := allChecks(t, docs, values); len(errs) > 0 {
		t.Fatalf("%v", errs)
	}
}

func find(t *testing.T, docs []Doc, kind string) map[string]interface{} {
	for _, d := range docs {
		if d.Kind() == kind {
			return d.Obj
		}
	}
	t.Fatalf("no %s", kind)
	return nil
}

// Each mutation breaks one rule; the checks must say so.
func TestChecksCatchBreakage(t *testing.T) {
	mutations := map[string]func(docs []Doc){
		"extra verb": func(docs []Doc) {
			r := list(get(find(t, docs, "ClusterRole"), "rules"))[1].(map[string]interface{})
			r["verbs"] = []interface{}{"get", "list"}
		},
		"missing patch": func(docs []Doc) {
			r := list(get(find(t, docs, "ClusterRole"), "rules"))[0].(map[string]interface{})
			r["verbs"] = []interface{}{"get"}
		},
		"wildcard": func(docs []Doc) {
			r := list(get(find(t, docs, "ClusterRole"), "rules"))[0].(map[string]interface{})
			r["resources"] = []interface{}{"*"}
		},
		"selector": func(docs []Doc) {
			get(find(t, docs, "Deployment"), "spec", "selector", "matchLabels").(map[string]interface{})["app.kubernetes.io/component"] = "other"
		},
		"writable root": func(docs []Doc) {
			c := list(get(find(t, docs, "DaemonSet"), "spec", "template", "spec", "containers"))[0]
			get(c, "securityContext").(map[string]interface{})["readOnlyRootFilesystem"] = false
		},
		"service selector": func(docs []Doc) {
			get(find(t, docs, "Service"), "spec", "selector").(map[string]interface{})["app.kubernetes.io/component"] = "nothing"
		},
		"long name": func(docs []Doc) {
			get(find(t, docs, "Service"), "metadata").(map[string]interface{})["name"] = strings.Repeat("a", 64)
		},
		"unknown metric in dashboard": func(docs []Doc) {
			for _, d := range docs {
				if d.Name() == "variant-variant-autoscaler-dashboard" {
					data := get(d.Obj, "data").(map[string]interface{})
					for k, v := range data {
						data[k] = strings.Replace(v.(string), "sum(variant_cost_per_hour)", "sum(variant_cost_per_hour_typo)", 1)
					}
				}
			}
		},
		"missing binding subject": func(docs []Doc) {
			s := list(get(find(t, docs, "ClusterRoleBinding"), "subjects"))[0].(map[string]interface{})
			s["name"] = "someone-else"
		},
	}
	for name, mutate := range mutations {
		docs, values := renderDocs(t, nil)
		mutate(docs)
		if errs := allChecks(t, docs, values); len(errs) == 0 {
			t.Errorf("%s: no check failed", name)
		}
	}
}

func TestRBACFollowsValues(t *testing.T) {
	docs, values := renderDocs(t, map[string]interface{}{"actuator": map[string]interface{}{"mode": "metric"}})
	if findKind(docs, "ClusterRole") || findKind(docs, "Role") {
		t.Error("RBAC rendered in metric mode")
	}
	if errs := allChecks(t, docs, values); len(errs) > 0 {
		t.Error(errs)
	}
	docs, values = renderDocs(t, map[string]interface{}{"rbac": map[string]interface{}{
		"targetNamespaces": []interface{}{"a", "b"}, "leaderWorkerSet": false}})
	if errs := allChecks(t, docs, values); len(errs) > 0 {
		t.Error(errs)
	}
	n := 0
	for _, d := range docs {
		if d.Kind() == "Role" {
			n++
			if s := jsonOf(get(d.Obj, "rules")); strings.Contains(s, "leaderworkerset") {
				t.Errorf("LWS granted though disabled: %s", s)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d Roles, want 2", n)
	}
}

func jsonOf(v interface{}) string { b, _ := json.Marshal(v); return string(b) }

func TestYamlLintFindsProblems(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("---\na: 1\na: 2\nb:   [1,2]\n"), 0o644)
	if errs := YamlLint("yamllint", bad); len(errs) == 0 {
		t.Error("yamllint accepted a duplicate key")
	}
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("---\na: 1\nb:\n  - x\n"), 0o644)
	if errs := YamlLint("yamllint", good); len(errs) > 0 {
		t.Error(errs)
	}
}

func TestRequiredAndTpl(t *testing.T) {
	c, err := LoadChart(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	values := MergeValues(c.Values, map[string]interface{}{
		"hpa":            map[string]interface{}{"enabled": true},
		"scaledVariants": []interface{}{map[string]interface{}{"name": "x", "namespace": "y", "model": "m"}},
	})
	if _, err := Render(c, values, "r", "ns"); err == nil || !strings.Contains(err.Error(), "maxReplicas is required") {
		t.Errorf("required did not fail: %v", err)
	}
	c.Templates = map[string]string{
		"variant-autoscaler/templates/_h.tpl": `{{- define "h" -}}{{ .Values.k | upper }}{{- end -}}`,
		"variant-autoscaler/templates/t.yaml": `x: {{ tpl "{{ .Release.Name }}-{{ .Values.k }}" . }}-{{ include "h" . }}`,
	}
	r, err := Render(c, map[string]interface{}{"k": "v"}, "rel", "ns")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Manifests["variant-autoscaler/templates/t.yaml"]; got != "x: rel-v-V" {
		t.Errorf("tpl: %q", got)
	}
}

func TestValuesDocumented(t *testing.T) {
	missing, err := CheckValuesDocumented(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Errorf("undocumented: %v", missing)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "values.yaml")
	os.WriteFile(f, []byte("# -- doc\na: 1\nb:\n  # -- doc\n  c: 2\n  d: 3\ne: {x: 1}\n"), 0o644)
	missing, _ = CheckValuesDocumented(f)
	if !reflect.DeepEqual(missing, []string{"b.d", "e"}) {
		t.Errorf("got %v", missing)
	}
}

func TestActuatorWorkloadsWithinRBAC(t *testing.T) {
	v := map[string]interface{}{
		"actuator": map[string]interface{}{"mode": "direct", "workloads": []interface{}{
			map[string]interface{}{"model": "m", "variant": "v", "namespace": "a", "name": "x"},
			map[string]interface{}{"model": "m", "variant": "w", "kind": "LeaderWorkerSet", "namespace": "b", "name": "y"},
		}},
		"rbac": map[string]interface{}{"targetNamespaces": []interface{}{"a"}, "leaderWorkerSet": false},
	}
	if errs := CheckActuatorWorkloads(v); len(errs) != 2 {
		t.Errorf("want 2 errors (namespace b, LeaderWorkerSet), got %v", errs)
	}
	v["rbac"] = map[string]interface{}{"targetNamespaces": []interface{}{"a", "b"}, "leaderWorkerSet": true}
	if errs := CheckActuatorWorkloads(v); len(errs) != 0 {
		t.Error(errs)
	}
}

// k8s-render renders a Helm chart the way `helm template` does (for the functions
// the chart uses; see render.go) and checks the rendered manifests (check.go).
//
//	k8s-render -chart charts/variant-autoscaler [-f ci/x.yaml ...] [-out FILE]
//	           [-check -api-calls bridge/actuator/k8s_api_calls.txt
//	            -exporter agent/daemon/exporter.cc]
//
// Exit status: 0 rendered (and checked clean), 1 a render error or a failed check,
// 2 usage.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("k8s-render", flag.ContinueOnError)
	chartDir := fs.String("chart", "", "chart directory")
	var valueFiles multiFlag
	fs.Var(&valueFiles, "f", "values file merged over values.yaml (repeatable)")
	release := fs.String("release", "variant", "release name")
	namespace := fs.String("namespace", "variant-system", "release namespace")
	out := fs.String("out", "", "write the rendered manifests here (default stdout unless -check)")
	notes := fs.String("notes", "", "write the rendered NOTES.txt here")
	check := fs.Bool("check", false, "check the rendered manifests")
	apiCalls := fs.String("api-calls", "", "the actuator's API call list (RBAC check)")
	metricsPath := fs.String("metrics", "", "metrics list (default <chart>/metrics.txt)")
	exporter := fs.String("exporter", "", "agent exporter source to compare metrics.txt with")
	yamllint := fs.String("yamllint", "yamllint", "yamllint binary; empty skips it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *chartDir == "" || (*check && *apiCalls == "") {
		fmt.Fprintln(os.Stderr, "k8s-render: -chart is required; -check needs -api-calls")
		return 2
	}
	label := "default values"
	if len(valueFiles) > 0 {
		label = strings.Join(valueFiles, " + ")
	}
	fail := func(format string, a ...interface{}) int {
		fmt.Fprintf(os.Stderr, "k8s-render: %s: "+format+"\n", append([]interface{}{label}, a...)...)
		return 1
	}

	chart, err := LoadChart(*chartDir)
	if err != nil {
		return fail("%v", err)
	}
	values := chart.Values
	for _, f := range valueFiles {
		v, err := loadYAMLFile(f)
		if err != nil {
			return fail("%v", err)
		}
		values = MergeValues(values, v)
	}
	var errs []string
	if b, ok := chart.Files["values.schema.json"]; ok {
		schema := map[string]interface{}{}
		if err := json.Unmarshal(b, &schema); err != nil {
			return fail("values.schema.json: %v", err)
		}
		for _, e := range Validate(schema, values, "values") {
			errs = append(errs, "schema: "+e)
		}
	}
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(os.Stderr, "  "+e)
		}
		return fail("%d values do not match values.schema.json", len(errs))
	}
	r, err := Render(chart, values, *release, *namespace)
	if err != nil {
		return fail("render: %v", err)
	}
	stream := r.Stream()
	if *notes != "" {
		if err := os.WriteFile(*notes, []byte(r.Notes), 0o644); err != nil {
			return fail("%v", err)
		}
	}
	outFile := *out
	if outFile != "" {
		if err := os.WriteFile(outFile, []byte(stream), 0o644); err != nil {
			return fail("%v", err)
		}
	} else if !*check {
		fmt.Print(stream)
		return 0
	}
	if !*check {
		return 0
	}

	undocumented, err := CheckValuesDocumented(filepath.Join(*chartDir, "values.yaml"))
	if err != nil {
		return fail("%v", err)
	}
	for _, u := range undocumented {
		errs = append(errs, "values.yaml: "+u+" has no comment (every value is documented)")
	}
	docs, perrs := ParseStream(stream)
	errs = append(errs, perrs...)
	if *yamllint != "" {
		f := outFile
		if f == "" {
			tmp, err := os.CreateTemp("", "k8s-render-*.yaml")
			if err != nil {
				return fail("%v", err)
			}
			tmp.WriteString(stream)
			tmp.Close()
			defer os.Remove(tmp.Name())
			f = tmp.Name()
		}
		errs = append(errs, YamlLint(*yamllint, f)...)
	}
	if strings.TrimSpace(r.Notes) == "" {
		errs = append(errs, "NOTES.txt renders empty")
	}
	errs = append(errs, CheckStructure(docs)...)
	errs = append(errs, CheckWorkloads(docs)...)
	errs = append(errs, CheckServices(docs)...)
	calls, err := LoadAPICalls(*apiCalls)
	if err != nil {
		return fail("%v", err)
	}
	want := ExpectedGrants(calls, values)
	errs = append(errs, CheckRBAC(docs, want, values)...)
	errs = append(errs, CheckActuatorWorkloads(values)...)
	mp := *metricsPath
	if mp == "" {
		mp = filepath.Join(*chartDir, "metrics.txt")
	}
	metrics, err := LoadMetrics(mp)
	if err != nil {
		return fail("%v", err)
	}
	merrs, queries := CheckMetrics(docs, metrics)
	errs = append(errs, merrs...)
	var warns []string
	if *exporter != "" {
		exported, err := ExporterNames(*exporter)
		if err != nil {
			return fail("%v", err)
		}
		e, w := CheckAgentMetrics(metrics, exported)
		errs = append(errs, e...)
		warns = append(warns, w...)
	}
	for _, w := range warns {
		fmt.Fprintln(os.Stderr, "  warning: "+w)
	}
	for _, e := range errs {
		fmt.Fprintln(os.Stderr, "  error: "+e)
	}
	kinds := map[string]int{}
	for _, d := range docs {
		kinds[d.Kind()]++
	}
	fmt.Printf("k8s-render: %s: %d objects %v, %d RBAC grants, %d metric queries checked, %d errors, %d warnings\n",
		label, len(docs), kinds, len(want), queries, len(errs), len(warns))
	if len(errs) > 0 {
		return 1
	}
	return 0
}

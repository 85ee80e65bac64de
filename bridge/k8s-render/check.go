package main

// Checks on rendered manifests: structure, names, label selectors, security
// context, RBAC against the actuator's API call list, and every metric that the
// dashboards, HPAs and ScaledObjects query against the chart's metrics list.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"

	yaml "gopkg.in/yaml.v3"
)

// Doc is one rendered Kubernetes object.
type Doc struct {
	Source string
	Obj    map[string]interface{}
}

func (d Doc) Kind() string { s, _ := d.Obj["kind"].(string); return s }
func (d Doc) Name() string { s, _ := get(d.Obj, "metadata", "name").(string); return s }
func (d Doc) Namespace() string {
	s, _ := get(d.Obj, "metadata", "namespace").(string)
	return s
}
func (d Doc) ID() string {
	return d.Kind() + " " + d.Namespace() + "/" + d.Name() + " (" + d.Source + ")"
}

func get(v interface{}, path ...string) interface{} {
	for _, p := range path {
		m, ok := v.(map[string]interface{})
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func strMap(v interface{}) map[string]string {
	out := map[string]string{}
	if m, ok := v.(map[string]interface{}); ok {
		for k, x := range m {
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}

func list(v interface{}) []interface{} { l, _ := v.([]interface{}); return l }

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// ParseStream parses the `# Source:`-annotated stream of Rendered.Stream.
func ParseStream(stream string) ([]Doc, []string) {
	var docs []Doc
	var errs []string
	for _, part := range SplitDocs(stream) {
		src := ""
		for _, l := range strings.Split(part, "\n") {
			if strings.HasPrefix(l, "# Source: ") {
				src = strings.TrimPrefix(l, "# Source: ")
				break
			}
		}
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(part), &m); err != nil {
			errs = append(errs, fmt.Sprintf("%s: not YAML: %v", src, err))
			continue
		}
		docs = append(docs, Doc{src, normalize(m).(map[string]interface{})})
	}
	return docs, errs
}

var (
	dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	labelValue   = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	labelKeyName = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
)

// CheckStructure: apiVersion, kind, metadata.name on every object; names and label
// values at most 63 characters and well formed; no duplicate objects.
func CheckStructure(docs []Doc) []string {
	var errs []string
	seen := map[string]bool{}
	for _, d := range docs {
		if d.Obj["apiVersion"] == nil || d.Kind() == "" || d.Name() == "" {
			errs = append(errs, d.Source+": object without apiVersion, kind or metadata.name")
			continue
		}
		key := d.Kind() + "/" + d.Namespace() + "/" + d.Name()
		if seen[key] {
			errs = append(errs, d.ID()+": duplicate object")
		}
		seen[key] = true
		if len(d.Name()) > 63 {
			errs = append(errs, fmt.Sprintf("%s: name is %d characters (> 63)", d.ID(), len(d.Name())))
		}
		if !dns1123Label.MatchString(d.Name()) {
			errs = append(errs, d.ID()+": name is not a DNS-1123 label")
		}
		for _, path := range [][]string{{"metadata", "labels"}, {"spec", "template", "metadata", "labels"}} {
			for k, v := range strMap(get(d.Obj, path...)) {
				name := k
				if i := strings.LastIndex(k, "/"); i >= 0 {
					name = k[i+1:]
				}
				if len(name) > 63 || !labelKeyName.MatchString(name) {
					errs = append(errs, fmt.Sprintf("%s: bad label key %q", d.ID(), k))
				}
				if len(v) > 63 || !labelValue.MatchString(v) {
					errs = append(errs, fmt.Sprintf("%s: bad label value %s=%q", d.ID(), k, v))
				}
			}
		}
	}
	return errs
}

func podTemplate(d Doc) map[string]interface{} {
	t, _ := get(d.Obj, "spec", "template").(map[string]interface{})
	return t
}

func isWorkload(d Doc) bool {
	switch d.Kind() {
	case "Deployment", "DaemonSet", "StatefulSet":
		return true
	}
	return false
}

func findDoc(docs []Doc, kind, ns, name string) *Doc {
	for i := range docs {
		if docs[i].Kind() == kind && docs[i].Name() == name && (ns == "" || docs[i].Namespace() == ns) {
			return &docs[i]
		}
	}
	return nil
}

func containerPorts(d Doc) map[string]bool {
	ports := map[string]bool{}
	for _, c := range list(get(podTemplate(d), "spec", "containers")) {
		for _, p := range list(get(c, "ports")) {
			if n, ok := get(p, "name").(string); ok {
				ports[n] = true
			}
			ports[fmt.Sprint(get(p, "containerPort"))] = true
		}
	}
	return ports
}

// CheckWorkloads: selectors match pod labels; non-root, read-only root filesystem,
// no privilege escalation, all capabilities dropped; referenced ConfigMaps and
// ServiceAccounts are rendered; probe ports exist.
func CheckWorkloads(docs []Doc) []string {
	var errs []string
	for _, d := range docs {
		if !isWorkload(d) {
			continue
		}
		sel := strMap(get(d.Obj, "spec", "selector", "matchLabels"))
		labels := strMap(get(podTemplate(d), "metadata", "labels"))
		if len(sel) == 0 {
			errs = append(errs, d.ID()+": empty spec.selector.matchLabels")
		} else if !subset(sel, labels) {
			errs = append(errs, fmt.Sprintf("%s: selector %v does not match pod labels %v", d.ID(), sel, labels))
		}
		spec := get(podTemplate(d), "spec")
		podNonRoot, _ := get(spec, "securityContext", "runAsNonRoot").(bool)
		ports := containerPorts(d)
		for _, c := range list(get(spec, "containers")) {
			cname, _ := get(c, "name").(string)
			sc := get(c, "securityContext")
			nonRoot, _ := get(sc, "runAsNonRoot").(bool)
			if !nonRoot && !podNonRoot {
				errs = append(errs, d.ID()+": container "+cname+" may run as root")
			}
			if ro, _ := get(sc, "readOnlyRootFilesystem").(bool); !ro {
				errs = append(errs, d.ID()+": container "+cname+" has a writable root filesystem")
			}
			if ape, ok := get(sc, "allowPrivilegeEscalation").(bool); !ok || ape {
				errs = append(errs, d.ID()+": container "+cname+" allows privilege escalation")
			}
			drops := list(get(sc, "capabilities", "drop"))
			if len(drops) != 1 || drops[0] != "ALL" {
				errs = append(errs, d.ID()+": container "+cname+" does not drop ALL capabilities")
			}
			for _, probe := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
				for _, kind := range []string{"httpGet", "tcpSocket"} {
					if p := get(c, probe, kind, "port"); p != nil && !ports[fmt.Sprint(p)] {
						errs = append(errs, fmt.Sprintf("%s: %s port %v is not a container port", d.ID(), probe, p))
					}
				}
			}
		}
		for _, v := range list(get(spec, "volumes")) {
			if cm, ok := get(v, "configMap", "name").(string); ok && findDoc(docs, "ConfigMap", d.Namespace(), cm) == nil {
				errs = append(errs, d.ID()+": volume uses ConfigMap "+cm+", which the chart does not render")
			}
		}
		if sa, ok := get(spec, "serviceAccountName").(string); ok && sa != "default" &&
			findDoc(docs, "ServiceAccount", d.Namespace(), sa) == nil {
			errs = append(errs, d.ID()+": ServiceAccount "+sa+" is not rendered")
		}
	}
	return errs
}

// CheckServices: each Service selects the pods of a rendered workload, and its
// named target ports exist there; each ServiceMonitor selects a rendered Service and
// scrapes a port that Service has.
func CheckServices(docs []Doc) []string {
	var errs []string
	for _, s := range docs {
		if s.Kind() != "Service" {
			continue
		}
		sel := strMap(get(s.Obj, "spec", "selector"))
		if len(sel) == 0 {
			errs = append(errs, s.ID()+": Service without a selector")
			continue
		}
		var match *Doc
		for i := range docs {
			if isWorkload(docs[i]) && docs[i].Namespace() == s.Namespace() &&
				subset(sel, strMap(get(podTemplate(docs[i]), "metadata", "labels"))) {
				match = &docs[i]
			}
		}
		if match == nil {
			errs = append(errs, fmt.Sprintf("%s: selector %v matches no rendered pod template", s.ID(), sel))
			continue
		}
		ports := containerPorts(*match)
		for _, p := range list(get(s.Obj, "spec", "ports")) {
			if tp := get(p, "targetPort"); tp != nil && !ports[fmt.Sprint(tp)] {
				errs = append(errs, fmt.Sprintf("%s: targetPort %v is not a port of %s", s.ID(), tp, match.ID()))
			}
		}
	}
	for _, m := range docs {
		if m.Kind() != "ServiceMonitor" {
			continue
		}
		sel := strMap(get(m.Obj, "spec", "selector", "matchLabels"))
		var svc *Doc
		for i := range docs {
			if docs[i].Kind() == "Service" && len(sel) > 0 && subset(sel, strMap(get(docs[i].Obj, "metadata", "labels"))) {
				svc = &docs[i]
			}
		}
		if svc == nil {
			errs = append(errs, fmt.Sprintf("%s: selector %v matches no rendered Service", m.ID(), sel))
			continue
		}
		names := map[string]bool{}
		for _, p := range list(get(svc.Obj, "spec", "ports")) {
			if n, ok := get(p, "name").(string); ok {
				names[n] = true
			}
		}
		for _, e := range list(get(m.Obj, "spec", "endpoints")) {
			if p, ok := get(e, "port").(string); ok && !names[p] {
				errs = append(errs, m.ID()+": endpoint port "+p+" is not a port of "+svc.ID())
			}
		}
	}
	return errs
}

// APICall is one line of bridge/actuator/k8s_api_calls.txt.
type APICall struct{ Verb, Group, Resource string }

func (c APICall) String() string { return c.Verb + " " + c.Group + "/" + c.Resource }

func LoadAPICalls(path string) ([]APICall, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var calls []APICall
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) < 3 {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		calls = append(calls, APICall{fields[0], fields[1], fields[2]})
	}
	return calls, sc.Err()
}

// ExpectedGrants is the set of calls the chart's RBAC must grant with these values.
func ExpectedGrants(calls []APICall, values map[string]interface{}) map[string]bool {
	want := map[string]bool{}
	if get(values, "actuator", "mode") != "direct" || get(values, "rbac", "create") != true {
		return want
	}
	lws, _ := get(values, "rbac", "leaderWorkerSet").(bool)
	for _, c := range calls {
		if c.Group == "leaderworkerset.x-k8s.io" && !lws {
			continue
		}
		want[c.String()] = true
	}
	return want
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CheckRBAC: every Role/ClusterRole grants exactly `want` (no wildcard, nothing
// more, nothing less); bindings point at rendered roles and ServiceAccounts; with
// rbac.targetNamespaces, exactly one Role per listed namespace and no ClusterRole.
func CheckRBAC(docs []Doc, want map[string]bool, values map[string]interface{}) []string {
	var errs []string
	roles := 0
	roleNS := map[string]bool{}
	for _, d := range docs {
		if d.Kind() != "Role" && d.Kind() != "ClusterRole" {
			continue
		}
		roles++
		if d.Kind() == "Role" {
			roleNS[d.Namespace()] = true
		}
		got := map[string]bool{}
		for _, r := range list(get(d.Obj, "rules")) {
			for _, g := range list(get(r, "apiGroups")) {
				for _, res := range list(get(r, "resources")) {
					for _, v := range list(get(r, "verbs")) {
						got[fmt.Sprintf("%v %v/%v", v, g, res)] = true
					}
				}
			}
			if get(r, "resourceNames") != nil || get(r, "nonResourceURLs") != nil {
				errs = append(errs, d.ID()+": unexpected resourceNames/nonResourceURLs")
			}
		}
		for g := range got {
			if strings.Contains(g, "*") {
				errs = append(errs, d.ID()+": wildcard grant "+g)
			} else if !want[g] {
				errs = append(errs, d.ID()+": grants "+g+", which the actuator never calls")
			}
		}
		for _, w := range sortedKeys(want) {
			if !got[w] {
				errs = append(errs, d.ID()+": does not grant "+w+", which the actuator calls")
			}
		}
	}
	if len(want) > 0 && roles == 0 {
		errs = append(errs, "no Role or ClusterRole rendered, but the actuator needs: "+strings.Join(sortedKeys(want), ", "))
	}
	if len(want) == 0 && roles > 0 {
		errs = append(errs, "a Role/ClusterRole is rendered although the actuator is not in direct mode")
	}
	if nsl := list(get(values, "rbac", "targetNamespaces")); len(want) > 0 && len(nsl) > 0 {
		for _, ns := range nsl {
			if !roleNS[fmt.Sprint(ns)] {
				errs = append(errs, fmt.Sprintf("no Role in target namespace %v", ns))
			}
		}
		if len(roleNS) != len(nsl) || findKind(docs, "ClusterRole") {
			errs = append(errs, "roles exist outside rbac.targetNamespaces")
		}
	}
	for _, b := range docs {
		if b.Kind() != "RoleBinding" && b.Kind() != "ClusterRoleBinding" {
			continue
		}
		rk, _ := get(b.Obj, "roleRef", "kind").(string)
		rn, _ := get(b.Obj, "roleRef", "name").(string)
		ns := b.Namespace()
		if rk == "ClusterRole" {
			ns = ""
		}
		if findDoc(docs, rk, ns, rn) == nil {
			errs = append(errs, b.ID()+": roleRef "+rk+" "+rn+" is not rendered")
		}
		for _, s := range list(get(b.Obj, "subjects")) {
			if get(s, "kind") == "ServiceAccount" {
				name, _ := get(s, "name").(string)
				sns, _ := get(s, "namespace").(string)
				if findDoc(docs, "ServiceAccount", sns, name) == nil {
					errs = append(errs, b.ID()+": subject ServiceAccount "+sns+"/"+name+" is not rendered")
				}
			}
		}
	}
	return errs
}

func findKind(docs []Doc, kind string) bool {
	for _, d := range docs {
		if d.Kind() == kind {
			return true
		}
	}
	return false
}

// MetricEntry is one line of metrics.txt.
type MetricEntry struct {
	Source, Type string
	Planned      bool
}

func LoadMetrics(path string) (map[string]MetricEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]MetricEntry{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) < 3 {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		out[fields[1]] = MetricEntry{fields[0], fields[2], len(fields) > 3 && fields[3] == "planned"}
	}
	return out, sc.Err()
}

// Known reports whether a queried series name is exported per metrics.txt.
func Known(metrics map[string]MetricEntry, name string) bool {
	if _, ok := metrics[name]; ok {
		return true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if e, ok := metrics[strings.TrimSuffix(name, suf)]; ok && strings.HasSuffix(name, suf) &&
			(e.Type == "histogram" || e.Type == "summary") {
			return true
		}
	}
	return false
}

func collectExprs(v interface{}, out *[]string) {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, x := range t {
			if s, ok := x.(string); ok && k == "expr" {
				*out = append(*out, s)
			} else {
				collectExprs(x, out)
			}
		}
	case []interface{}:
		for _, x := range t {
			collectExprs(x, out)
		}
	}
}

// CheckMetrics: every dashboard query, HPA external metric and KEDA prometheus query
// names only metrics of metrics.txt; embedded config files parse. Returns the errors
// and the number of queries checked.
func CheckMetrics(docs []Doc, metrics map[string]MetricEntry) ([]string, int) {
	var errs []string
	n := 0
	checkExpr := func(where, expr string) {
		n++
		names, err := MetricNames(expr)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: query %q: %v", where, expr, err))
			return
		}
		if len(names) == 0 {
			errs = append(errs, fmt.Sprintf("%s: query %q names no metric", where, expr))
		}
		for _, m := range names {
			if !Known(metrics, m) {
				errs = append(errs, fmt.Sprintf("%s: query %q uses %s, which neither the agent nor vLLM exports (metrics.txt)", where, expr, m))
			}
		}
	}
	dashboards := 0
	for _, d := range docs {
		switch d.Kind() {
		case "ConfigMap":
			isDash := strMap(get(d.Obj, "metadata", "labels"))["grafana_dashboard"] != ""
			for k, v := range strMap(get(d.Obj, "data")) {
				switch {
				case strings.HasSuffix(k, ".json"):
					var j interface{}
					if err := json.Unmarshal([]byte(v), &j); err != nil {
						errs = append(errs, d.ID()+": "+k+" is not JSON: "+err.Error())
						continue
					}
					if isDash {
						dashboards++
						var exprs []string
						collectExprs(j, &exprs)
						if len(exprs) == 0 {
							errs = append(errs, d.ID()+": dashboard "+k+" has no queries")
						}
						for _, e := range exprs {
							checkExpr(d.ID()+" "+k, e)
						}
					}
				case strings.HasSuffix(k, ".yaml"):
					var y interface{}
					if err := yaml.Unmarshal([]byte(v), &y); err != nil {
						errs = append(errs, d.ID()+": "+k+" is not YAML: "+err.Error())
					}
				}
			}
		case "HorizontalPodAutoscaler":
			for _, m := range list(get(d.Obj, "spec", "metrics")) {
				if name, ok := get(m, "external", "metric", "name").(string); ok {
					n++
					if !Known(metrics, name) {
						errs = append(errs, d.ID()+": external metric "+name+" is not exported (metrics.txt)")
					}
				}
			}
		case "ScaledObject":
			for _, t := range list(get(d.Obj, "spec", "triggers")) {
				if q, ok := get(t, "metadata", "query").(string); ok {
					checkExpr(d.ID(), q)
				}
			}
		}
	}
	_ = dashboards
	return errs, n
}

// ExporterNames reads the metric names agent/daemon/exporter.cc registers.
func ExporterNames(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`(?:Name\(|f\.name = )"([a-zA-Z_:][a-zA-Z0-9_:]*)"`)
	out := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = true
	}
	return out, nil
}

// CheckAgentMetrics compares metrics.txt's agent entries with the exporter: a
// listed, not planned metric the agent does not register is an error; planned ones
// and exported ones not listed are warnings.
func CheckAgentMetrics(metrics map[string]MetricEntry, exported map[string]bool) (errs, warns []string) {
	for name, e := range metrics {
		if e.Source != "agent" {
			continue
		}
		switch {
		case !exported[name] && !e.Planned:
			errs = append(errs, "metrics.txt lists "+name+" as exported by the agent, but agent/daemon/exporter.cc does not register it")
		case !exported[name] && e.Planned:
			warns = append(warns, "planned, not yet exported by the agent: "+name)
		case exported[name] && e.Planned:
			warns = append(warns, name+" is exported now: drop \"planned\" in metrics.txt")
		}
	}
	for name := range exported {
		if _, ok := metrics[name]; !ok {
			warns = append(warns, "the agent exports "+name+", which metrics.txt does not list")
		}
	}
	sort.Strings(errs)
	sort.Strings(warns)
	return errs, warns
}

// YamlLint runs Debian's yamllint on a file with the chart's rules.
func YamlLint(yamllint, file string) []string {
	conf := `extends: default
rules:
  line-length: disable
  document-start: {present: true}
  indentation: {spaces: 2, indent-sequences: whatever}
  comments: {min-spaces-from-content: 1}
  truthy: {allowed-values: ["true", "false"], check-keys: false}
`
	out, err := exec.Command(yamllint, "-f", "parsable", "-d", conf, file).CombinedOutput()
	if err == nil {
		return nil
	}
	if _, ok := err.(*exec.ExitError); !ok {
		return []string{"yamllint could not run: " + err.Error()}
	}
	var errs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			errs = append(errs, "yamllint: "+l)
		}
	}
	return errs
}

// CheckActuatorWorkloads: in direct mode, the RBAC reaches every workload the
// actuator is configured to scale (its namespace is a target namespace, when those
// are listed; a LeaderWorkerSet needs the LeaderWorkerSet rules).
func CheckActuatorWorkloads(values map[string]interface{}) []string {
	if get(values, "actuator", "mode") != "direct" {
		return nil
	}
	var errs []string
	nsl := list(get(values, "rbac", "targetNamespaces"))
	allowed := map[string]bool{}
	for _, ns := range nsl {
		allowed[fmt.Sprint(ns)] = true
	}
	lws, _ := get(values, "rbac", "leaderWorkerSet").(bool)
	for i, w := range list(get(values, "actuator", "workloads")) {
		ns := fmt.Sprint(get(w, "namespace"))
		if len(nsl) > 0 && !allowed[ns] {
			errs = append(errs, fmt.Sprintf("actuator.workloads[%d]: namespace %s is not in rbac.targetNamespaces", i, ns))
		}
		if get(w, "kind") == "LeaderWorkerSet" && !lws {
			errs = append(errs, fmt.Sprintf("actuator.workloads[%d]: a LeaderWorkerSet, but rbac.leaderWorkerSet is false", i))
		}
	}
	return errs
}

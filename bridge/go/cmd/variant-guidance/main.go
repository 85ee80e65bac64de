// variant-guidance subscribes to an agent's guidance through the Go bridge and prints,
// as JSON, the variant weights of each request in a requests file (and the load
// signal of each variant named), once guidance of at least -min-decision has arrived.
//
//	variant-guidance -endpoint tcp://127.0.0.1:5556 -requests requests.json
//
// requests.json: [{"model": "...", "class": "...", "input": 300, "output": 150}, ...]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"variant-autoscaler/bridge/go/variant"
)

type request struct {
	Model  string  `json:"model"`
	Class  string  `json:"class"`
	Input  float64 `json:"input"`
	Output float64 `json:"output"`
}

type answer struct {
	request
	Weights [][2]interface{}   `json:"weights"`
	Loads   map[string]float64 `json:"loads"`
	Error   string             `json:"error,omitempty"`
}

func main() {
	endpoint := flag.String("endpoint", "", "the agent's XPUB endpoint")
	reqFile := flag.String("requests", "", "JSON list of requests")
	minDecision := flag.Int64("min-decision", 1, "wait for guidance of at least this decision id")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after this long")
	flag.Parse()
	if *endpoint == "" || *reqFile == "" {
		fmt.Fprintln(os.Stderr, "usage: variant-guidance -endpoint EP -requests FILE")
		os.Exit(2)
	}
	raw, err := os.ReadFile(*reqFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var reqs []request
	if err := json.Unmarshal(raw, &reqs); err != nil {
		fmt.Fprintln(os.Stderr, "requests:", err)
		os.Exit(2)
	}
	cl, err := variant.NewClient(*endpoint)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer cl.Close()
	deadline := time.Now().Add(*timeout)
	var st variant.Stats
	for {
		st, _ = cl.Stats()
		if st.DecisionID >= *minDecision {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "no guidance from %s in %v (stats %+v)\n", *endpoint, *timeout, st)
			os.Exit(1)
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := struct {
		DecisionID int64    `json:"decision_id"`
		Answers    []answer `json:"answers"`
	}{DecisionID: st.DecisionID}
	for _, r := range reqs {
		a := answer{request: r, Weights: [][2]interface{}{}, Loads: map[string]float64{}}
		ws, pick, err := cl.Weights(r.Model, r.Class, r.Input, r.Output)
		if err != nil {
			a.Error = err.Error()
		} else {
			out.DecisionID = pick.DecisionID
			for _, w := range ws {
				a.Weights = append(a.Weights, [2]interface{}{w.Variant, w.Weight})
				if l, err := cl.Load(r.Model, w.Variant); err == nil {
					a.Loads[w.Variant] = l
				}
			}
		}
		out.Answers = append(out.Answers, a)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		os.Exit(1)
	}
}

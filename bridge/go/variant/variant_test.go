package variant

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func sourceDir() string {
	if d := os.Getenv("VARIANT_SOURCE_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..")
}

func basicProblem(t *testing.T) []byte {
	b, err := os.ReadFile(filepath.Join(sourceDir(), "examples", "basic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newContext(t *testing.T) *Context {
	if err := CheckABI(); err != nil {
		t.Fatal(err)
	}
	ctx, err := NewContext("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctx.Close)
	return ctx
}

type decision struct {
	Cost     float64 `json:"cost_per_hour"`
	Guidance struct {
		Models []struct {
			Model  string `json:"model"`
			Slices []struct {
				Class   string             `json:"class"`
				Input   float64            `json:"input"`
				Output  float64            `json:"output"`
				Weights map[string]float64 `json:"weights"`
			} `json:"slices"`
		} `json:"models"`
		Variants []struct {
			Model   string  `json:"model"`
			Variant string  `json:"variant"`
			Load    float64 `json:"load"`
		} `json:"variants"`
	} `json:"guidance"`
}

func solve(t *testing.T, ctx *Context) ([]byte, decision) {
	out, err := ctx.Solve(basicProblem(t), nil, "fast")
	if err != nil {
		t.Fatal(err)
	}
	var d decision
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	return out, d
}

func TestSolveAndErrors(t *testing.T) {
	ctx := newContext(t)
	_, d := solve(t, ctx)
	if d.Cost <= 0 || len(d.Guidance.Models) == 0 {
		t.Fatalf("decision without cost or guidance: %+v", d)
	}
	bad := strings.ReplaceAll(string(basicProblem(t)), "llama-3-70b", "no-such-model")
	_, err := ctx.Solve([]byte(bad), nil, "fast")
	var ve *Error
	if !errors.As(err, &ve) || ve.Name != "VARIANT_E_UNKNOWN_MODEL" || !strings.Contains(ve.Message, "no-such-model") {
		t.Fatalf("want VARIANT_E_UNKNOWN_MODEL naming the model, got %v", err)
	}
	if _, err := ctx.Solve(basicProblem(t), nil, "simplex"); err == nil {
		t.Fatal("unknown solver accepted")
	}
}

func TestModelQueries(t *testing.T) {
	ctx := newContext(t)
	s := Spec{Model: "llama-3-8b", Accelerator: "h100", TP: 1}
	mix := []Bucket{{1000, 200, 1}}
	p, err := ctx.Predict(s, mix, 0, 1)
	if err != nil || !p.Stable || p.TTFTP95Ms <= 0 {
		t.Fatalf("predict: %+v %v", p, err)
	}
	m, err := ctx.MaxRate(s, mix, 0, "ttft_p95_ms=1000,itl_p95_ms=60")
	if err != nil || m.RateRPS <= 1 || m.TTFTP95Ms > 1000*1.001 {
		t.Fatalf("max rate: %+v %v", m, err)
	}
	var ve *Error
	if _, err := ctx.Predict(Spec{Model: "llama-3-8b", Accelerator: "tpu-v9", TP: 1}, mix, 0, 1); !errors.As(err, &ve) || ve.Name != "VARIANT_E_UNKNOWN_ACCELERATOR" {
		t.Fatalf("want VARIANT_E_UNKNOWN_ACCELERATOR, got %v", err)
	}
	ctx.Close()
	if _, err := ctx.Predict(s, mix, 0, 1); err == nil {
		t.Fatal("a closed context answered")
	}
}

// guidanceOf wraps a decision's guidance as the agent publishes it.
func guidanceOf(t *testing.T, raw []byte, id int) []byte {
	var d map[string]interface{}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return pack(map[string]interface{}{"decision_id": id, "models": []interface{}{}, "optimizer": fix(d["guidance"])})
}

// fix turns encoding/json's generic values into pack's types.
func fix(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		for k, e := range x {
			x[k] = fix(e)
		}
	case []interface{}:
		for i, e := range x {
			x[i] = fix(e)
		}
	}
	return v
}

func TestClientAnswersTheDecisionsWeights(t *testing.T) {
	ctx := newContext(t)
	raw, d := solve(t, ctx)
	cl, err := NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var ce *ClientError
	if _, _, err := cl.Weights("llama-3-8b", "", 300, 150); !errors.As(err, &ce) || ce.Code != ClientErrNoGuidance {
		t.Fatalf("want no guidance, got %v", err)
	}
	if err := cl.Feed(header(1), guidanceOf(t, raw, 3)); err != nil {
		t.Fatal(err)
	}
	for _, m := range d.Guidance.Models {
		for _, s := range m.Slices {
			ws, pick, err := cl.Weights(m.Model, s.Class, s.Input, s.Output)
			if err != nil {
				t.Fatal(err)
			}
			if pick.DecisionID != 3 || !pick.PerBucket || pick.BucketInput != s.Input {
				t.Fatalf("pick %+v for slice %+v", pick, s)
			}
			total := 0.0
			for _, w := range s.Weights {
				total += w
			}
			for _, w := range ws {
				if math.Abs(w.Weight-s.Weights[w.Variant]/total) > 1e-12 {
					t.Fatalf("%s %s %v/%v: %s got %v want %v", m.Model, s.Class, s.Input, s.Output, w.Variant, w.Weight, s.Weights[w.Variant]/total)
				}
			}
		}
	}
	for _, v := range d.Guidance.Variants {
		l, err := cl.Load(v.Model, v.Variant)
		if err != nil || math.Abs(l-v.Load) > 1e-12 {
			t.Fatalf("load %s/%s: %v %v want %v", v.Model, v.Variant, l, err, v.Load)
		}
	}
	// A future schema is refused and the guidance stays.
	err = cl.Feed(header(2), guidanceOf(t, raw, 4))
	if !errors.As(err, &ce) || !strings.Contains(ce.Message, "schema_version") {
		t.Fatalf("want a schema_version rejection, got %v", err)
	}
	st, _ := cl.Stats()
	if st.DecisionID != 3 || st.Rejected != 1 || st.Accepted != 1 {
		t.Fatalf("stats %+v", st)
	}
	if r, _ := cl.LastRejection(); !strings.Contains(r, "schema_version") {
		t.Fatalf("last rejection %q", r)
	}
}

func TestClientConcurrentQueriesAndFeeds(t *testing.T) {
	ctx := newContext(t)
	raw, _ := solve(t, ctx)
	cl, err := NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Feed(header(1), guidanceOf(t, raw, 1)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				ws, _, err := cl.Weights("llama-3-8b", "interactive", 300, 150)
				if err != nil {
					errs <- err
					return
				}
				sum := 0.0
				for _, w := range ws {
					sum += w.Weight
				}
				if math.Abs(sum-1) > 1e-9 {
					errs <- errors.New("weights do not sum to 1")
					return
				}
			}
		}()
	}
	for i := 2; i < 200; i++ {
		if err := cl.Feed(header(1), guidanceOf(t, raw, i)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	cl.Close()
	if _, err := cl.Load("llama-3-8b", "h100-tp1"); err == nil {
		t.Fatal("a closed client answered")
	}
}

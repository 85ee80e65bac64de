package epp

import (
	"context"
	"errors"
	"math"
	"testing"

	"variant-autoscaler/bridge/go/variant"
)

// fakeGuidance answers from maps: weights per model (whatever the lengths) and loads.
type fakeGuidance struct {
	weights map[string][]variant.Weight
	loads   map[string]float64 // "model/variant"
	asked   [][2]float64
}

func (f *fakeGuidance) Weights(model, class string, in, out float64) ([]variant.Weight, variant.Pick, error) {
	f.asked = append(f.asked, [2]float64{in, out})
	w, ok := f.weights[model]
	if !ok {
		return nil, variant.Pick{}, errors.New("unknown model")
	}
	return w, variant.Pick{}, nil
}

func (f *fakeGuidance) Load(model, v string) (float64, error) {
	l, ok := f.loads[model+"/"+v]
	if !ok {
		return 0, errors.New("no signal")
	}
	return l, nil
}

type pod struct {
	md EndpointMetadata
}

func (p *pod) GetMetadata() *EndpointMetadata { return &p.md }
func (p *pod) GetMetrics() *Metrics           { return &Metrics{} }

func newPod(name, v string) *pod {
	labels := map[string]string{}
	if v != "" {
		labels["variant"] = v
	}
	return &pod{EndpointMetadata{Namespace: "llm", Name: name, Labels: labels}}
}

func TestScorerFollowsTheWeightsAndDampsSaturatedVariants(t *testing.T) {
	g := &fakeGuidance{
		weights: map[string][]variant.Weight{"llama": {{Variant: "h100", Weight: 0.6}, {Variant: "a100", Weight: 0.3}, {Variant: "l40s", Weight: 0.1}}},
		loads:   map[string]float64{"llama/h100": 0.5, "llama/a100": 2.0},
	}
	s := NewVariantScorer(g, Options{})
	h, a, l, other, unlabeled := newPod("h", "h100"), newPod("a", "a100"), newPod("l", "l40s"), newPod("o", "mi300x"), newPod("u", "")
	pods := []Endpoint{h, a, l, other, unlabeled}
	got := s.Score(context.Background(), &CycleState{}, &InferenceRequest{TargetModel: "llama", Prompt: "0123456789abcdef", MaxTokens: 50}, pods)
	want := map[Endpoint]float64{h: 1, a: 0.5 * 0.5, l: 0.1 / 0.6, other: 0, unlabeled: 0}
	for p, w := range want {
		if math.Abs(got[p]-w) > 1e-12 {
			t.Errorf("%s: score %v want %v", p.GetMetadata().Name, got[p], w)
		}
		if got[p] < 0 || got[p] > 1 {
			t.Errorf("%s: score %v outside [0,1]", p.GetMetadata().Name, got[p])
		}
	}
	if len(g.asked) != 1 || g.asked[0] != [2]float64{4, 50} {
		t.Errorf("lengths asked: %v (want 16 chars / 4 = 4 in, max_tokens 50 out)", g.asked)
	}
	// Unknown model: everyone 0, nobody left out.
	got = s.Score(context.Background(), nil, &InferenceRequest{TargetModel: "gpt"}, pods)
	if len(got) != len(pods) {
		t.Fatalf("%d scores for %d pods", len(got), len(pods))
	}
	for p, v := range got {
		if v != 0 {
			t.Errorf("%s: %v for an unknown model", p.GetMetadata().Name, v)
		}
	}
	if s.Category() != Distribution || s.TypedName().Type != "variant-autoscaler-scorer" {
		t.Error("category or typed name")
	}
}

func TestSaturationIsTheMeanLoadOverEndpoints(t *testing.T) {
	g := &fakeGuidance{loads: map[string]float64{"llama/h100": 0.5, "llama/a100": 2.0}}
	d := NewVariantSaturation(g, "llama", Options{})
	ctx := context.Background()
	cases := []struct {
		name string
		eps  []Endpoint
		want float64
	}{
		{"none", nil, 1},
		{"one idle", []Endpoint{newPod("h", "h100")}, 0.5},
		{"mixed", []Endpoint{newPod("h1", "h100"), newPod("h2", "h100"), newPod("a", "a100")}, (0.5 + 0.5 + 2) / 3},
		{"saturated", []Endpoint{newPod("a", "a100")}, 2},
		{"no signal", []Endpoint{newPod("x", "l40s")}, 0},
	}
	for _, c := range cases {
		if got := d.Saturation(ctx, c.eps); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: %v want %v", c.name, got, c.want)
		}
	}
	if got := d.Saturation(ctx, []Endpoint{newPod("a", "a100")}); got < 1 {
		t.Error("a variant above its SLO capacity must read as saturated (>= 1)")
	}
}

// The adapters over the real guidance client (C library), fed one guidance message.
func TestAdaptersOverTheRealClient(t *testing.T) {
	cl, err := variant.NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	hdr := []byte{0x83, 0xa1, 'v', 0x01, 0xa3, 's', 'r', 'c', 0xa1, 'x', 0xa3, 's', 'e', 'q', 0x01}
	// {"decision_id":1,"models":[{"model":"m","variants":[{"variant":"a","weight":1.0,"load_signal":1.5}]}]}
	body := []byte{0x82, 0xab, 'd', 'e', 'c', 'i', 's', 'i', 'o', 'n', '_', 'i', 'd', 0x01,
		0xa6, 'm', 'o', 'd', 'e', 'l', 's', 0x91, 0x82, 0xa5, 'm', 'o', 'd', 'e', 'l', 0xa1, 'm',
		0xa8, 'v', 'a', 'r', 'i', 'a', 'n', 't', 's', 0x91, 0x83,
		0xa7, 'v', 'a', 'r', 'i', 'a', 'n', 't', 0xa1, 'a',
		0xa6, 'w', 'e', 'i', 'g', 'h', 't', 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
		0xab, 'l', 'o', 'a', 'd', '_', 's', 'i', 'g', 'n', 'a', 'l', 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}
	if err := cl.Feed(hdr, body); err != nil {
		t.Fatal(err)
	}
	s := NewVariantScorer(cl, Options{})
	p := newPod("p", "a")
	got := s.Score(context.Background(), nil, &InferenceRequest{TargetModel: "m", Prompt: "hi"}, []Endpoint{p})
	if math.Abs(got[p]-1/1.5) > 1e-12 {
		t.Fatalf("score %v want %v", got[p], 1/1.5)
	}
	if sat := NewVariantSaturation(cl, "m", Options{}).Saturation(context.Background(), []Endpoint{p}); sat != 1.5 {
		t.Fatalf("saturation %v want 1.5", sat)
	}
}

package epp

import (
	"context"
	"math"
	"unicode/utf8"

	"variant-autoscaler/bridge/go/variant"
)

// Guidance is what the adapters ask of the autoscaler; *variant.Client satisfies it.
type Guidance interface {
	Weights(model, class string, inputTokens, outputTokens float64) ([]variant.Weight, variant.Pick, error)
	Load(model, variant string) (float64, error)
}

// LengthEstimator gives a request's input and expected output length in tokens.
type LengthEstimator func(r *InferenceRequest) (input, output float64)

// DefaultLengths estimates about 4 characters per prompt token and takes max_tokens
// (or 256 when unset) as the output length.
func DefaultLengths(r *InferenceRequest) (float64, float64) {
	in := math.Max(1, float64(utf8.RuneCountInString(r.Prompt))/4)
	out := 256.0
	if r.MaxTokens > 0 {
		out = float64(r.MaxTokens)
	}
	return in, out
}

// Options configure both adapters.
type Options struct {
	Name string
	// VariantLabel is the pod label naming the endpoint's variant (default "variant").
	VariantLabel string
	// ClassHeader names the request header carrying the service class ("" = any).
	ClassHeader string
	Lengths     LengthEstimator
}

func (o *Options) defaults(kind string) {
	if o.Name == "" {
		o.Name = kind
	}
	if o.VariantLabel == "" {
		o.VariantLabel = "variant"
	}
	if o.Lengths == nil {
		o.Lengths = DefaultLengths
	}
}

func variantOf(e Endpoint, label string) string {
	if e == nil || e.GetMetadata() == nil {
		return ""
	}
	return e.GetMetadata().Labels[label]
}

// VariantScorer scores each endpoint by its variant's weight for the request's
// length bucket, relative to the best variant's, damped by the variant's load when
// it is saturated: score = (w_v / max_u w_u) × min(1, 1/load_v). Endpoints without a
// variant label, of a variant without weight, or when no guidance is known, score 0
// (so other scorers decide).
type VariantScorer struct {
	g   Guidance
	opt Options
}

// NewVariantScorer builds the scorer over g (e.g. a *variant.Client).
func NewVariantScorer(g Guidance, opt Options) *VariantScorer {
	opt.defaults("variant-autoscaler-scorer")
	return &VariantScorer{g, opt}
}

// TypedName implements Plugin.
func (s *VariantScorer) TypedName() TypedName {
	return TypedName{"variant-autoscaler-scorer", s.opt.Name}
}

// Category implements Scorer: the guidance spreads load over variants.
func (s *VariantScorer) Category() ScorerCategory { return Distribution }

// Score implements Scorer.
func (s *VariantScorer) Score(_ context.Context, _ *CycleState, r *InferenceRequest, pods []Endpoint) map[Endpoint]float64 {
	scores := make(map[Endpoint]float64, len(pods))
	for _, p := range pods {
		scores[p] = 0
	}
	if r == nil {
		return scores
	}
	in, out := s.opt.Lengths(r)
	class := ""
	if s.opt.ClassHeader != "" {
		class = r.Headers[s.opt.ClassHeader]
	}
	ws, _, err := s.g.Weights(r.TargetModel, class, in, out)
	if err != nil || len(ws) == 0 {
		return scores
	}
	w := make(map[string]float64, len(ws))
	best := 0.0
	for _, x := range ws {
		w[x.Variant] = x.Weight
		best = math.Max(best, x.Weight)
	}
	if best <= 0 {
		return scores
	}
	damp := map[string]float64{}
	for _, p := range pods {
		v := variantOf(p, s.opt.VariantLabel)
		if w[v] <= 0 {
			continue
		}
		d, ok := damp[v]
		if !ok {
			d = 1
			if load, err := s.g.Load(r.TargetModel, v); err == nil && load > 1 {
				d = 1 / load
			}
			damp[v] = d
		}
		scores[p] = math.Min(1, math.Max(0, w[v]/best*d))
	}
	return scores
}

// VariantSaturation is the pool's saturation from the variants' load signals: the
// mean over the endpoints of their variant's load (each replica of a variant carries
// the same share). No endpoints: 1.0 (no capacity). Endpoints none of whose variants
// has a known load: 0, so a missing signal never stops traffic.
type VariantSaturation struct {
	g     Guidance
	model string
	opt   Options
}

// NewVariantSaturation builds the detector for one model's pool.
func NewVariantSaturation(g Guidance, model string, opt Options) *VariantSaturation {
	opt.defaults("variant-autoscaler-saturation")
	return &VariantSaturation{g, model, opt}
}

// TypedName implements Plugin.
func (d *VariantSaturation) TypedName() TypedName {
	return TypedName{"variant-autoscaler-saturation", d.opt.Name}
}

// Saturation implements SaturationDetector.
func (d *VariantSaturation) Saturation(_ context.Context, endpoints []Endpoint) float64 {
	if len(endpoints) == 0 {
		return 1
	}
	sum, n := 0.0, 0
	cache := map[string]float64{}
	for _, e := range endpoints {
		v := variantOf(e, d.opt.VariantLabel)
		load, ok := cache[v]
		if !ok {
			l, err := d.g.Load(d.model, v)
			if err != nil {
				l = math.NaN()
			}
			cache[v], load = l, l
		}
		if !math.IsNaN(load) {
			sum += load
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// Compile-time checks that the adapters have the pinned interface shapes.
var (
	_ Scorer             = (*VariantScorer)(nil)
	_ SaturationDetector = (*VariantSaturation)(nil)
	_ Guidance           = (*variant.Client)(nil)
)

// Package epp adapts the autoscaler's guidance to the llm-d Endpoint Picker (the
// Gateway API Inference Extension's EPP) plugin interfaces.
//
// Pinned version: gateway-api-inference-extension at commit 33173e4c83e8 of
// pkg/epp/framework/interface/scheduling/plugins.go (the `framework/interface`
// layout), with the flow-control SaturationDetector of the same layout
// (Saturation(ctx, endpoints) float64, >= 1.0 saturated). The interfaces changed
// several times in 2025 (Score(ctx *types.SchedulingContext, pods), then
// Score(ctx, cycleState, request, pods), then with Category(); IsSaturated(ctx) bool,
// then Saturation(...) float64); this package follows that one version.
//
// The types are defined here with the same method shapes, not imported: the bridge
// builds without fetching modules. An adapter for a real EPP build wraps these in a
// few lines (rename the types to the upstream ones; the method sets are identical).
// The compile-time assertions below pin the shapes.
package epp

import "context"

// TypedName is a plugin's type and instance name (plugin.TypedName).
type TypedName struct {
	Type string
	Name string
}

// Plugin is the base of every plugin (plugin.Plugin).
type Plugin interface {
	TypedName() TypedName
}

// ScorerCategory marks the preference a scorer applies (scheduling.ScorerCategory).
type ScorerCategory string

// Scorer categories.
const (
	Affinity     ScorerCategory = "Affinity"
	Distribution ScorerCategory = "Distribution"
	Balance      ScorerCategory = "Balance"
)

// CycleState is the per-scheduling-cycle scratch space (scheduling.CycleState);
// opaque here.
type CycleState struct{}

// InferenceRequest is the request being scheduled (requesthandling.InferenceRequest),
// reduced to what the adapters read.
type InferenceRequest struct {
	RequestID   string
	TargetModel string
	Headers     map[string]string
	// Prompt and MaxTokens stand in for the parsed body; the scorer's length
	// estimator reads them.
	Prompt    string
	MaxTokens int
}

// EndpointMetadata identifies a model-server endpoint (datalayer.EndpointMetadata).
type EndpointMetadata struct {
	Namespace, Name string
	Address         string
	Labels          map[string]string
}

// Metrics are an endpoint's scraped metrics (datalayer.Metrics), reduced.
type Metrics struct {
	WaitingQueueSize    int
	RunningRequestsSize int
	KVCacheUsagePercent float64
}

// Endpoint is a candidate model server (scheduling.Endpoint / datalayer.Endpoint).
type Endpoint interface {
	GetMetadata() *EndpointMetadata
	GetMetrics() *Metrics
}

// Scorer scores candidate endpoints in [0, 1], 1 best (scheduling.Scorer).
type Scorer interface {
	Plugin
	Category() ScorerCategory
	Score(ctx context.Context, cycleState *CycleState, request *InferenceRequest, pods []Endpoint) map[Endpoint]float64
}

// SaturationDetector gives the pool's saturation, >= 1.0 saturated
// (flowcontrol.SaturationDetector).
type SaturationDetector interface {
	Plugin
	Saturation(ctx context.Context, endpoints []Endpoint) float64
}

// The Go bridge: a cgo binding over libvariant and libvariant-client, and Endpoint
// Picker-shaped adapters. Standard library only (no module is fetched).
module variant-autoscaler/bridge/go

go 1.19

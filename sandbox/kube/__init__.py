"""The sandbox's Kubernetes: the real control plane's components, built from the Go module proxy (build), and run on loopback (controlplane)."""

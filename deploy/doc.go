// Package deploy holds the tests that check the deployment descriptions against the
// code: docker-compose.yml (loaded with compose-go) and deploy/kubernetes (rendered
// with kustomize, every object decoded strictly into its API type). The module is
// apart from the services so that the Kubernetes and compose libraries stay out of
// their builds.
package deploy

package rpctest

import "testing"

func TestCreateVerbsEndWhereAWordEnds(t *testing.T) {
	for name, want := range map[string]bool{
		"CreateClient":         true,
		"ImportClients":        true,
		"RotateApiKey":         true,
		"RequestSupportAccess": true,
		"AcceptInvitation":     true,
		"SignUp":               true,
		"BatchCreateClients":   true,
		"BatchUpdateClients":   false,
		"UpsertClient":         false,
		"Creates":              false,
		"Requeue":              false,
		"UpdateClient":         false,
		"RunSeries":            false,
		"ApproveSupportGrant":  false,
	} {
		if got := hasVerb(name, createVerbs...); got != want {
			t.Errorf("hasVerb(%q, createVerbs...) = %v, want %v", name, got, want)
		}
	}
}

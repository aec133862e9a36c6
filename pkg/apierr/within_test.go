package apierr_test

import (
	"errors"
	"testing"

	"github.com/firmflow/firmflow/pkg/apierr"
)

func TestWithinPlacesAnErrorUnderItsItem(t *testing.T) {
	shared := apierr.AlreadyExists("EXTERNAL_ID_TAKEN", "another client has this external id")
	var e *apierr.Error
	if !errors.As(apierr.Within(shared, "requests[2]."), &e) || e.Message != "requests[2]: another client has this external id" || e.Reason != "EXTERNAL_ID_TAKEN" {
		t.Errorf("without violations: %v", e)
	}
	if shared.Message != "another client has this external id" {
		t.Error("Within changed the error it was given")
	}
	field := apierr.InvalidArgument("client.display_name", "required", "a client needs a name")
	if !errors.As(apierr.Within(field, "requests[3]."), &e) || len(e.Violations) != 1 || e.Violations[0].Field != "requests[3].client.display_name" ||
		e.Message != "requests[3]: client.display_name: a client needs a name" {
		t.Errorf("with a violation: %+v", e)
	}
	if field.Violations[0].Field != "client.display_name" {
		t.Error("Within changed the violations it was given")
	}
	other := errors.New("database gone")
	if apierr.Within(other, "requests[0].") != other {
		t.Error("an error that is not an *Error changed")
	}
}

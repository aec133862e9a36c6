package app

import "time"

// SetClock sets the clock the use cases run on, for tests outside the package.
func SetClock(a *App, now func() time.Time) { a.now = now }

package pipeline

// checkHook, when set, checks a lane's invariants after each operation that changes
// its queues: the package's tests set it (invariants_test.go) so that every pipeline
// test checks them after every offer, take, finish, timer, load and commit step. It
// is nil in production, where a lane pays one nil check per operation. It must be
// set before any lane exists and never changed afterwards.
var checkHook func(l *lane, op string)

// checkLocked runs checkHook after op; l.mu must be held.
func (l *lane) checkLocked(op string) {
	if checkHook != nil {
		checkHook(l, op)
	}
}

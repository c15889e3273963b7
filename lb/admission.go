package lb

// Admission says which of a member's states may refuse a new hold on it.
// Every backend takes holds under one of these; the store backends pass
// its name to their scripts.
type Admission int

const (
	// Checked is a call ringlb places (Acquire; Next also skips members
	// in wrap-up): refused on a drained member and on a full one.
	Checked Admission = iota
	// Counted is a call that exists already, one the switch reports
	// (Count): it loads its member whatever the member's drain and
	// capacity, so it is held whatever they are.
	Counted
	// Reasserted is the hold of a call still up that a store lost (its
	// lease lapsed during an outage, a failover), taken back by its node:
	// held whatever its member's state, ringing or talking as it was.
	Reasserted
)

// admissionNames name the admissions as the scripts of store backends
// take them, and admissionOps the operation that holds under each, as
// errors name it (a node takes holds back when it renews its leases).
var (
	admissionNames = [...]string{Checked: "checked", Counted: "counted", Reasserted: "reasserted"}
	admissionOps   = [...]string{Checked: "acquire", Counted: "count", Reasserted: "renew"}
)

// String names a as the scripts of store backends take it: checked,
// counted or reasserted.
func (a Admission) String() string { return enumName(admissionNames[:], a, "Admission") }

// Op names the operation that holds under a, as errors name it: acquire,
// count or renew.
func (a Admission) Op() string { return enumName(admissionOps[:], a, "Admission") }

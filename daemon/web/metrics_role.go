package web

// MetricSourceRole is 1 for the high-availability role a source reports now
// (adapters.Deps.Role: "active", "standby", …) and 0 for each role it reported
// before, by source and role.
const MetricSourceRole = "edgerelay_source_role"

// SourceRole records that source changed its role from from ("" at its first
// report) to to: the series of to reads 1, that of from 0.
func (m *Metrics) SourceRole(source, from, to string) {
	if from != "" && from != to {
		m.callbackGauge(series(MetricSourceRole, "source", source, "role", from), func() float64 { return 0 })
	}
	m.callbackGauge(series(MetricSourceRole, "source", source, "role", to), func() float64 { return 1 })
}

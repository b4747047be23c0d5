// Package alert evaluates alert rules (docs/design/alerting.md, "Alert
// rules"): every `every`, each rule reads its source (a metric, a PromQL
// expression, a service's RED measures, a log query's match count, new or
// regressed issues, or an uptime check's results) for the window ending at
// the evaluation time, gets one datapoint per alert instance (label set),
// and runs the instance's state machine, CloudWatch's M-of-N evaluation
// with its missing-data treatments plus Prometheus's `for` and
// `keep_firing_for`, through OK, PENDING, FIRING and NO_DATA.
//
// The state machine (Instance.Step) is pure and deterministic: time enters
// only through the datapoints. The Evaluator persists each instance's state
// and its transitions in the state store, so that a restart resumes
// exactly, and hands the firing and just-resolved instances to a Notifier.
package alert

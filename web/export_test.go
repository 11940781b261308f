package web

// HumanDuration is humanDuration, for the external tests that compare the pages' figures
// with what they compute themselves.
var HumanDuration = humanDuration

// AuditWord is auditWord, for the test that every recorded action has words.
var AuditWord = auditWord

// Package knownbug provokes, on purpose, two tutorial bugs that a
// transcript cannot pin down byte for byte, and checks that they happen:
// the crash "send on closed channel" (chapters 07-09) and the data race on
// the user map (chapters 06-09). The chapters' test files call these
// scenarios, so each is written once for every chapter that has the bug.
package knownbug

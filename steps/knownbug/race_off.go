//go:build !race

package knownbug

const raceDetector = false

//go:build race

package gpushare

// raceOn: the race detector slows the packing replays ten times; they then
// run one seed per family (every invariant is still checked).
const raceOn = true

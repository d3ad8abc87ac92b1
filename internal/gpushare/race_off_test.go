//go:build !race

package gpushare

const raceOn = false

package logs

import (
	"bufio"
	"bytes"
	"errors"
	"hash/fnv"
	"io"
	"strconv"
	"time"
)

// Cursor is how far a stream got, for a reopened stream to start where it
// broke. The reopened request asks for sinceTime = Last, which the API cuts to
// its second, and the kubelet then replays, in file order, every line stamped
// at or after that second. File order is not stamp order (containerd stamps
// stdout and stderr lines in two goroutines before their shared write), so
// the cursor counts lines, not stamps: Count is how many lines were written
// stamped at or after From, and those are the replay's first Count lines
// from From on. From is Last's second. In the stream's first second the
// replay also holds the lines before the first line written in the file,
// which were not asked for (--tail, --since), whatever their stamps: first
// names the first line written, and the replay's lines before it are dropped,
// not counted. After it, every line was asked for, unless the first request
// had a bound inside a second (Bounded: --since, see midSecondBound): then
// From is the first line's stamp, as lines after it stamped before it may
// have been left out by the bound, which the client does not know to the
// nanosecond. So a line stamped after the bound but before the first line
// written, following it in the file (stdout and stderr skew, microseconds),
// and not yet written when the stream breaks in that first second, is
// dropped by the reopened stream: it cannot be told from a line the bound
// left out.
type Cursor struct {
	Last    time.Time // the latest stamp written
	From    time.Time
	Count   int
	Bounded bool   // the first request's time bound may fall inside a second (--since)
	first   lineID // set only while Last is in the stream's first second
}

// lineID names a line by its stamp as sent and a hash of its message: two
// lines of one container with the same nanosecond stamp and message are the
// same line for the reader anyway.
type lineID struct {
	stamp string
	sum   uint64
}

func idOf(stamp, msg []byte) lineID {
	h := fnv.New64a()
	h.Write(msg)
	return lineID{string(stamp), h.Sum64()}
}

// Seen reports whether a line was already written.
func (c *Cursor) Seen() bool { return !c.Last.IsZero() }

// advance records a written line stamped ts (stamp and msg as sent).
func (c *Cursor) advance(ts time.Time, stamp, msg []byte) {
	switch {
	case !c.Seen():
		c.Last, c.From, c.Count = ts, ts.Truncate(time.Second), 1
		if c.Bounded {
			c.From = ts
		}
		c.first = idOf(stamp, msg)
	case ts.After(c.Last) && ts.Truncate(time.Second).After(c.Last):
		// A new second: every line written before is stamped before it,
		// and a reopened stream will not replay them.
		c.Last, c.From, c.Count = ts, ts.Truncate(time.Second), 1
		c.first = lineID{}
	case ts.After(c.Last):
		c.Last = ts
		c.Count++
	case !ts.Before(c.From):
		c.Count++ // stamped before Last, but replayed
	}
}

// EmitFunc receives one complete line: its parsed timestamp (zero if the line
// had none), the timestamp as sent, and the message without the newline. The
// slices are only valid during the call.
type EmitFunc func(ts time.Time, stamp, msg []byte) error

// maxLine caps one log line; longer lines are cut (the rest is dropped, and
// a mark at the end says how many bytes), as a follower must not buffer
// without bound.
const maxLine = 1 << 20

// readBuffer is each stream's read buffer, held for as long as the stream is
// open (stern's is bufio's default, the same 4 KiB); longer lines are
// assembled.
const readBuffer = 4 << 10

// Consume reads a stream requested with timestamps=true, one
// "<RFC3339Nano> <message>\n" per line, and calls emit for every line the
// cursor has not seen, advancing it: on a reopened stream, lines stamped
// before cur.From are dropped, and so are the first cur.Count lines stamped at
// or after it (they were written before the stream broke). A trailing
// fragment without a newline is
// not emitted: the stream broke inside it, and the reopened stream sends it
// whole. idle (optional) is called whenever every byte received so far is
// handled, before a read that may wait: the caller writes out what it batched.
// Consume returns nil at a clean end of stream, the read error otherwise, or
// emit's or idle's error.
func Consume(r io.Reader, cur *Cursor, emit EmitFunc, idle func() error) error {
	br := bufio.NewReaderSize(r, readBuffer)
	from, skip := cur.From, cur.Count
	resuming := cur.Seen()
	// Resuming in the stream's first second: wait for its first line. A
	// line stamped in a later second ends the wait (the first line is gone,
	// the file rotated): lines after it were not written.
	first, waiting := cur.first, resuming && cur.first != lineID{}
	firstSecond := from.Truncate(time.Second)
	var long []byte // a line longer than the reader's buffer
	cut := 0        // bytes of it beyond maxLine, dropped
	for {
		if idle != nil && br.Buffered() == 0 {
			if err := idle(); err != nil {
				return err
			}
		}
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			n := min(len(chunk), maxLine-len(long))
			long = append(long, chunk[:n]...)
			cut += len(chunk) - n
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		line := chunk[:len(chunk)-1]
		if long != nil {
			n := min(len(line), maxLine-len(long))
			long = append(long, line[:n]...)
			if cut += len(line) - n; cut > 0 {
				// Say so: a cut JSON line no longer parses, and the
				// reader should not take it for the whole line.
				long = strconv.AppendInt(append(long, " [zz: line cut, "...), int64(cut), 10)
				long = append(long, " more bytes dropped]"...)
			}
			line, long, cut = long, nil, 0
		}
		ts, stamp, msg := splitStamp(line)
		if ts.IsZero() {
			if err := emit(ts, nil, msg); err != nil {
				return err
			}
			continue
		}
		if waiting {
			if ts.Truncate(time.Second).After(firstSecond) {
				waiting, resuming = false, false
			} else {
				if idOf(stamp, msg) == first {
					waiting = false
					skip-- // the first line is one of Count
				}
				continue
			}
		}
		if resuming {
			if ts.Before(from) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			resuming = false
		}
		if err := emit(ts, stamp, msg); err != nil {
			return err
		}
		cur.advance(ts, stamp, msg)
	}
}

// splitStamp splits "<RFC3339Nano> <message>"; a line without a timestamp
// is all message, with a zero time.
func splitStamp(line []byte) (time.Time, []byte, []byte) {
	i := bytes.IndexByte(line, ' ')
	if i < 0 {
		i = len(line)
	}
	ts, ok := parseStamp(line[:i])
	if !ok {
		return time.Time{}, nil, line
	}
	msg := line[i:]
	if len(msg) > 0 {
		msg = msg[1:]
	}
	return ts, line[:i], msg
}

// parseStamp parses an RFC 3339 timestamp as time.Parse(time.RFC3339Nano)
// does. The kubelet's form, "2006-01-02T15:04:05.999999999Z" in UTC, is
// parsed without allocating (time.Parse needs a string: one allocation per
// line); any other form goes to time.Parse.
func parseStamp(b []byte) (time.Time, bool) {
	// YYYY-MM-DDTHH:MM:SS, then an optional fraction, then Z.
	if len(b) < len("2006-01-02T15:04:05Z") || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[len(b)-1] != 'Z' {
		return parseStampSlow(b)
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return parseStampSlow(b)
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			return parseStampSlow(b)
		}
		n, ok := digits(frac[1:])
		if !ok {
			return parseStampSlow(b)
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nsec = n
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return parseStampSlow(b)
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // February 30th and the like
		return parseStampSlow(b)
	}
	return t, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func parseStampSlow(b []byte) (time.Time, bool) {
	ts, err := time.Parse(time.RFC3339Nano, string(b))
	return ts, err == nil
}
